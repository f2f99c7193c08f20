# contrib/sandbox/setup.sh - what demo.sh and federation.sh share.
#
# Sourced with top (the source tree) and name (demo or federation) set,
# and the script's arguments: puts the build's programs on PATH, reads
# [--keep] [--dir DIR] | down [--dir DIR] into keep, down and dir
# (default ${TMPDIR:-/tmp}/tandem-demo for demo,
# ${TMPDIR:-/tmp}/tandem-demo-federation for federation), makes DIR
# the scratch folder (TRASH) of the t/ helpers, and sources them. The
# script defines test_atexit, which records what to stop.

build=${TANDEM_BUILD:-$top/build}
PATH=$build/certauth:$build/agent:$build/ctl:$build/milter:$build/policy:$PATH
TANDEM_SRC=$top
TANDEM_BUILD=$build
export PATH TANDEM_SRC TANDEM_BUILD

keep=0 down=0 dir=
while [ $# -gt 0 ]; do
	case $1 in
	--keep)	keep=1 ;;
	--dir)	[ $# -ge 2 ] || { echo "$name: --dir needs a folder" >&2; exit 64; }
		dir=$2; shift ;;
	down)	down=1 ;;
	*)	echo "usage: $name.sh [--keep] [--dir DIR] | down [--dir DIR]" >&2
		exit 64 ;;
	esac
	shift
done
case $name in
demo)	[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/tandem-demo ;;
*)	[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/tandem-demo-$name ;;
esac
case $dir in /*) ;; *) dir=$(pwd)/$dir ;; esac

TRASH=$dir
export TRASH
test_have_prog() {
	command -v "$1" >/dev/null 2>&1
}
. "$top/t/lib-pg.sh"
. "$top/t/lib-postfix.sh"
. "$top/t/lib-courier.sh"

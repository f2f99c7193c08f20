test_description='the main job: the federation demo and the one-courier demo run to the end'
. "$TANDEM_SRC/t/test-lib.sh"

# What "./quickstart demo" and "./quickstart demo one" run, with this
# build, each in a folder of its own; the demos check every step
# themselves and exit non-zero on the first that fails.

# The longest scenario (four minutes): .ci/run keeps it to the plain
# build, whose daemons and agent are the same code; under ASan and
# UBSan each of its steps runs in a scenario of its own.
if ldd "$TANDEM_BUILD/agent/tandem" | grep -q "libasan\|libubsan"; then
	test_skip_all 'a sanitizer build: the demo runs in the plain build; ASan and UBSan watch each of its steps in its own scenario (t/06xx to t/08xx)'
fi

test_expect_success 'the federation demo walks figures 7, 8, 9, the gateway, a revocation, a rekey and a transfer' '
	sh "$TANDEM_SRC/contrib/sandbox/federation.sh" --dir "$TRASH/fed" >fed.out 2>&1 ||
	{ tail -n 40 fed.out; false; } &&
	for s in "Figure 7, introduced couriers" "Figure 8, deferral" \
	    "Figure 9, invitation reject" "The gateway: erin@sub" \
	    "Revocation: alice@isp" "Figure 4, key replacement" \
	    "Figure 5, registration transfer" \
	    "Split trust held on every element"; do
		test_grep "^== [0-9]*\. $s" fed.out || return 1
	done &&
	test_grep "^   | isp knows corp.example, gw.example, home.example, root.example$" fed.out &&
	test_grep "^   | revoked 1; 1 sent on to other couriers, their receipts follow$" fed.out &&
	test_grep "^   | tandem: rv@isp.example was revoked by its sender" fed.out &&
	test_grep "^   | bob@corp.example opened " fed.out &&
	test_grep "^   | sub knows gw.example$" fed.out &&
	test_grep "^   | rekey: asked for generation 2$" fed.out &&
	test_grep "^   | rekey: now at generation 2$" fed.out &&
	test_grep "^   | carol@isp.example at generation 2$" fed.out &&
	test_grep "^   | Sealed to the old keys$" fed.out &&
	test_grep "^   | isp: bob@corp.example incoming from corp.example, subscribed$" fed.out &&
	test_grep "^   | corp: bob@corp.example outgoing to isp.example, rekeying$" fed.out &&
	test_grep "^   | transfer: asked isp.example for generation 2$" fed.out &&
	test_grep "^   | transfer: now with isp.example " fed.out &&
	test_grep "^   | corp: bob@corp.example transferred, redirected to isp.example$" fed.out &&
	test_grep "^   | While bob moves$" fed.out &&
	test_grep "^   | After bob moved$" fed.out &&
	test_grep "t5b@isp.example.*route=deliver-local" fed.out &&
	test_grep "^   sub: checked$" fed.out
'

# Every daemon of the demo runs with a path in its folder on its
# command line (configuration, data directory).
test_expect_success 'it stopped everything it started' '
	test ! -f "$TRASH/fed/stop.cmds" &&
	ps -eo args | grep -F "$TRASH/fed/" | grep -v grep >left || : &&
	test ! -s left
'

test_expect_success 'the one-courier demo' '
	sh "$TANDEM_SRC/contrib/sandbox/demo.sh" --dir "$TRASH/one" >one.out 2>&1 ||
	{ tail -n 40 one.out; false; } &&
	test_grep "What to try next" one.out &&
	test ! -f "$TRASH/one/stop.cmds" &&
	ps -eo args | grep -F "$TRASH/one/" | grep -v grep >left || : &&
	test ! -s left
'

test_done

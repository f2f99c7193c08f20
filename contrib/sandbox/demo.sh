#!/bin/sh
# contrib/sandbox/demo.sh - the main job behind "./quickstart demo".
echo "demo: the courier network is not built yet; see README.md"
exit 0

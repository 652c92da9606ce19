#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Guest side of `cargo xtask shell`: loads the module and starts a shell.
#
# Usage: shell.sh OUT MODULE

out=$1 ko=$2
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
trap 'dmesg > "$out/dmesg.log"' EXIT
insmod "$ko" && echo "mydevice loaded: /dev/mydevice, /proc/mydevice. Exit the shell to stop the VM."
bash -i

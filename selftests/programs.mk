# SPDX-License-Identifier: GPL-2.0-only
#
# The selftest programs, one per file in src/bin/. This is the one list: the
# kselftest Makefile, the Debian package (debian/rules) and `cargo xtask
# test` all read it, and a test of xtask checks that it names every program
# in src/bin/ once.

# Run by run_kselftest.sh, in this order, with the module loaded.
TEST_GEN_PROGS := abuse blocking churn clients fanout fault fuzz hangup \
	ioctl iouring nonblock parity poll signals splice stress

# Installed beside them, but not run by run_kselftest.sh: module_lifecycle
# needs the module unloaded and MYDEVICE_KO set, and loads it itself;
# debug_* need a debug kernel's fault injection and would only skip on others.
TEST_GEN_PROGS_EXTENDED := module_lifecycle debug_faultinject

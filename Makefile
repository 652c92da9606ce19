# SPDX-License-Identifier: GPL-2.0
#
# Builds mydevice.ko out of tree. KDIR is a configured and built kernel tree
# with Rust enabled; it defaults to the running kernel's build directory.
#
#   make                       build src/mydevice.ko
#   make KDIR=/path/to/build   build against another kernel
#   make modules_install       install it under /lib/modules/<release>/updates
#   make clean

KDIR ?= /lib/modules/$(shell uname -r)/build

all: modules

modules clean modules_install:
	$(MAKE) -C $(KDIR) M=$(CURDIR)/src $@

.PHONY: all modules clean modules_install

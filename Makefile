# SPDX-License-Identifier: GPL-2.0-only
#
# Builds mydevice.ko out of tree. KDIR is a configured and built kernel tree
# with Rust enabled; it defaults to the running kernel's build directory.
#
#   make                       build src/mydevice.ko
#   make KDIR=/path/to/build   build against another kernel
#   make modules_install       install it under /lib/modules/<release>/updates
#   make rust-analyzer         write src/rust-project.json for editors
#   make clean

KDIR ?= /lib/modules/$(shell uname -r)/build

all: modules

modules clean modules_install:
	$(MAKE) -C $(KDIR) M=$(CURDIR)/src $@

# The kernel's own target for external modules, as the Rust-for-Linux
# out-of-tree template uses: it describes src/ and the kernel crate to
# rust-analyzer.
rust-analyzer:
	$(MAKE) -C $(KDIR) M=$(CURDIR)/src rust-analyzer

.PHONY: all modules clean modules_install rust-analyzer

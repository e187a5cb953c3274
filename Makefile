# kvdb: build the C library and install it, following the GNU conventions.
#
#   make                  build libkvdb (release): target/release/libkvdb.{so,a},
#                         and the kvdb shell: target/release/kvdb
#   make run              build, then run examples-c/quickstart (in memory)
#   make install          install what `make` built: kvdb.h, kvdb.hpp,
#                         libkvdb.so.X.Y.Z with its SONAME links, libkvdb.a,
#                         kvdb.pc, bin/kvdb. It builds nothing, so
#                         `sudo make install` works without cargo on root's PATH.
#   make install-strip    the same, with the libraries and kvdb stripped of debug info
#   make uninstall        remove what install put in place
#   make test             every test (scripts/test-all.sh)
#
# Variables (set them on the command line, the same for install and
# uninstall):
#   prefix (or PREFIX)    /usr/local
#   exec_prefix           $(prefix)
#   bindir                $(exec_prefix)/bin
#   libdir (or LIBDIR)    $(exec_prefix)/lib; e.g. /usr/lib64 or
#                         /usr/lib/x86_64-linux-gnu
#   includedir            $(prefix)/include
#   pkgconfigdir          $(libdir)/pkgconfig
#   DESTDIR               staging root for packagers (nothing is run there)
#   PROFILE               release (default) or debug: which build to install
#
# After an install without DESTDIR into a directory the dynamic linker
# searches (see `ldconfig -v -N -X`), install runs ldconfig so programs
# find libkvdb.so.0 at once. Anywhere else it says how they can find it:
# -Wl,-rpath, LD_LIBRARY_PATH or a file in /etc/ld.so.conf.d.

PREFIX ?= /usr/local
prefix ?= $(PREFIX)
exec_prefix ?= $(prefix)
bindir ?= $(exec_prefix)/bin
LIBDIR ?= $(exec_prefix)/lib
libdir ?= $(LIBDIR)
includedir ?= $(prefix)/include
pkgconfigdir ?= $(libdir)/pkgconfig
DESTDIR ?=
PROFILE ?= release

INSTALL ?= install
INSTALL_DATA ?= $(INSTALL) -m 644
INSTALL_LIB ?= $(INSTALL) -m 755
INSTALL_PROGRAM ?= $(INSTALL) -m 755
STRIP ?= strip
LDCONFIG ?= ldconfig

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
BUILD_DIR := target/$(PROFILE)
HEADERS := include/kvdb.h include/kvdb.hpp
SHARED := libkvdb.so.$(VERSION)

.PHONY: all lib cli run install install-strip uninstall test

all: lib cli

lib:
	scripts/build-lib.sh $(PROFILE)

cli:
	cargo build $(if $(filter release,$(PROFILE)),--release,) -p kvdb-cli

run: lib
	$(MAKE) -C examples-c PROFILE=$(PROFILE) run

install:
	@for f in $(BUILD_DIR)/libkvdb.so $(BUILD_DIR)/libkvdb.a $(BUILD_DIR)/kvdb; do \
	  if [ ! -f "$$f" ]; then \
	    echo "$$f is missing: run \`make\` (PROFILE=$(PROFILE)) before \`make install\`" >&2; \
	    exit 1; \
	  fi; \
	done
	$(INSTALL) -d '$(DESTDIR)$(includedir)' '$(DESTDIR)$(libdir)' '$(DESTDIR)$(pkgconfigdir)' '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) $(BUILD_DIR)/kvdb '$(DESTDIR)$(bindir)/kvdb'
	$(INSTALL_DATA) $(HEADERS) '$(DESTDIR)$(includedir)/'
	$(INSTALL_LIB) $(BUILD_DIR)/libkvdb.so '$(DESTDIR)$(libdir)/$(SHARED)'
	ln -sf $(SHARED) '$(DESTDIR)$(libdir)/libkvdb.so.$(MAJOR)'
	ln -sf libkvdb.so.$(MAJOR) '$(DESTDIR)$(libdir)/libkvdb.so'
	$(INSTALL_DATA) $(BUILD_DIR)/libkvdb.a '$(DESTDIR)$(libdir)/libkvdb.a'
	sed -e 's|@prefix@|$(prefix)|' -e 's|@libdir@|$(libdir)|' \
	    -e 's|@includedir@|$(includedir)|' -e 's|@VERSION@|$(VERSION)|' \
	    kvdb.pc.in > '$(DESTDIR)$(pkgconfigdir)/kvdb.pc'
	@if [ -n "$(STRIP_INSTALLED)" ]; then \
	  echo "$(STRIP) --strip-unneeded $(DESTDIR)$(libdir)/$(SHARED)"; \
	  $(STRIP) --strip-unneeded '$(DESTDIR)$(libdir)/$(SHARED)'; \
	  echo "$(STRIP) --strip-debug $(DESTDIR)$(libdir)/libkvdb.a"; \
	  $(STRIP) --strip-debug '$(DESTDIR)$(libdir)/libkvdb.a'; \
	  echo "$(STRIP) $(DESTDIR)$(bindir)/kvdb"; \
	  $(STRIP) '$(DESTDIR)$(bindir)/kvdb'; \
	fi
	@if [ -z "$(DESTDIR)" ]; then LDCONFIG='$(LDCONFIG)' scripts/after-install.sh '$(libdir)'; fi

install-strip:
	$(MAKE) STRIP_INSTALLED=1 install

uninstall:
	rm -f '$(DESTDIR)$(includedir)/kvdb.h' '$(DESTDIR)$(includedir)/kvdb.hpp' \
	      '$(DESTDIR)$(libdir)/$(SHARED)' '$(DESTDIR)$(libdir)/libkvdb.so.$(MAJOR)' \
	      '$(DESTDIR)$(libdir)/libkvdb.so' '$(DESTDIR)$(libdir)/libkvdb.a' \
	      '$(DESTDIR)$(pkgconfigdir)/kvdb.pc' '$(DESTDIR)$(bindir)/kvdb'
	@if [ -z "$(DESTDIR)" ]; then LDCONFIG='$(LDCONFIG)' scripts/after-install.sh --quiet '$(libdir)'; fi

test:
	scripts/test-all.sh

# kvdb: build the C library, run the C quick start, install.
#
#   make run                           build libkvdb (release) and run examples-c/quickstart
#   make install [PREFIX=/usr/local] [DESTDIR=]
#                                      header, libkvdb.so (with SONAME links), libkvdb.a, kvdb.pc
#   make uninstall [PREFIX=…] [DESTDIR=]
#   make test                          every test (scripts/test-all.sh)

PREFIX ?= /usr/local
DESTDIR ?=
PROFILE ?= release
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
LIBDIR := target/$(PROFILE)
INCDIR_INSTALL := $(DESTDIR)$(PREFIX)/include
LIBDIR_INSTALL := $(DESTDIR)$(PREFIX)/lib

.PHONY: lib run install uninstall test

lib:
	scripts/build-lib.sh $(PROFILE)

run: lib
	$(MAKE) -C examples-c PROFILE=$(PROFILE) run

install: lib
	install -d $(INCDIR_INSTALL) $(LIBDIR_INSTALL)/pkgconfig
	install -m 644 include/kvdb.h $(INCDIR_INSTALL)/kvdb.h
	install -m 755 $(LIBDIR)/libkvdb.so $(LIBDIR_INSTALL)/libkvdb.so.$(VERSION)
	ln -sf libkvdb.so.$(VERSION) $(LIBDIR_INSTALL)/libkvdb.so.$(MAJOR)
	ln -sf libkvdb.so.$(MAJOR) $(LIBDIR_INSTALL)/libkvdb.so
	install -m 644 $(LIBDIR)/libkvdb.a $(LIBDIR_INSTALL)/libkvdb.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' kvdb.pc.in > $(LIBDIR_INSTALL)/pkgconfig/kvdb.pc

uninstall:
	rm -f $(INCDIR_INSTALL)/kvdb.h $(LIBDIR_INSTALL)/libkvdb.so.$(VERSION) \
	      $(LIBDIR_INSTALL)/libkvdb.so.$(MAJOR) $(LIBDIR_INSTALL)/libkvdb.so \
	      $(LIBDIR_INSTALL)/libkvdb.a $(LIBDIR_INSTALL)/pkgconfig/kvdb.pc

test:
	scripts/test-all.sh

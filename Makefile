# s6-instance-steps: build, install, test, demo.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
MANDIR := $(PREFIX)/share/man
# The examples, installed with their scripts rewritten to reach our
# programs by absolute path and to start the execlineb users call.
EXAMPLEDIR := $(PREFIX)/share/doc/s6-instance-steps/examples
CARGO ?= cargo

# Where execline's programs really are (Debian: /usr/lib/execline/bin,
# whose execlineb is the real binary, not /usr/bin's wrapper script).
EXECLINE_BIN ?= $(firstword $(foreach d,/usr/lib/execline/bin /bin /usr/bin /usr/local/bin,$(if $(wildcard $(d)/multisubstitute),$(d))))

# What the run scripts written by s6-instance-maker (s6i-make) name,
# found now and built into s6i-make: the execlineb of their #! line (the
# one users call: on Debian, /usr/bin's wrapper, as s6's own maker
# writes), and the directory of s6's programs.
EXECLINEB ?= $(firstword $(wildcard /usr/bin/execlineb /bin/execlineb /usr/local/bin/execlineb) $(EXECLINE_BIN)/execlineb)
S6_BIN ?= $(firstword $(foreach d,/usr/bin /bin /usr/local/bin,$(if $(wildcard $(d)/s6-svscan),$(d))) /bin)
# The s6 release the commands behave as (status record, s6-svstat's
# output and fields, s6-svc's commands and messages: see
# s6-instance-steps(7)). s6's programs have no --version: the full
# release is in the name of its shared library; a static build (such as
# s6-overlay's) is told apart by what its programs say and accept.
S6_VERSION ?= $(shell $(S6_PROBE))
S6_LIBS ?= /usr/lib/*/libs6.so.*.*.*.* /usr/lib/libs6.so.*.*.*.* /lib/libs6.so.*.*.*.*
define S6_PROBE
v=$$(ls $(S6_LIBS) 2>/dev/null | sed -n 's|.*/libs6\.so\.||p' | sort -t. -k1,1n -k2,2n -k3,3n -k4,4n | tail -n 1); \
if [ -n "$$v" ]; then echo $$v; \
elif grep -aq 'abqhkti12pcyrlPCK' $(S6_BIN)/s6-svc 2>/dev/null; then echo 2.15.1.0; \
elif $(S6_BIN)/s6-svscan -c 1 $(CURDIR)/target/.s6i-nowhere >/dev/null 2>&1; [ $$? = 100 ]; then echo 2.15.0.0; \
elif grep -aq 'servicedirs\.\.\.' $(S6_BIN)/s6-svc 2>/dev/null; then echo 2.14.0.0; \
elif grep -aq 'not started yet' $(S6_BIN)/s6-svstat 2>/dev/null; then echo 2.13.2.0; \
elif grep -aq 'pgid' $(S6_BIN)/s6-svstat 2>/dev/null; then echo 2.13.0.0; \
else echo 2.11.3.2; fi
endef
# s6-svscan's option for the number of services: -c up to s6 2.14; s6
# 2.15 dropped it for -C (which 2.12 to 2.14 also know).
SVSCAN_MAX ?= $(shell case $(S6_VERSION) in (2.1[5-9].*|2.[2-9]?.*|[3-9].*) echo C;; (*) echo c;; esac)
# s6-svc's commands and s6-svstat's fields grew over s6's releases.
# The scripts' usage lines are written for the latest release; install
# rewrites them for the one built for (the steps refuse the rest).
SVC_USAGE := $(shell case $(S6_VERSION) in \
  (2.[0-9].*|2.1[01].*) echo '[ -abqhkti12pcyroduDUxOQ ]';; \
  (2.12.*) echo '[ -s signal | -abqhkti12pcy ] [ -roduDUxOQ ]';; \
  (2.1[34].*|2.15.0.*) echo '[ -s signal | -abqhkti12pcyrPCK ] [ -oduDUxOQ ]';; \
  (*) echo '[ -s signal | -abqhkti12pcyrlPCK ] [ -oduDUxOQ ]';; esac)
SVSTAT_PGID := $(shell case $(S6_VERSION) in (2.[0-9].*|2.1[012].*) echo no;; (*) echo yes;; esac)
RELEASE_EDITS := -e 's/\[ -s signal | -abqhkti12pcyrlPCK \] \[ -oduDUxOQ \]/$(SVC_USAGE)/'
ifeq ($(SVSTAT_PGID),no)
RELEASE_EDITS += -e 's/-uwNrpgest/-uwNrpest/' -e 's/,pid,pgid,/,pid,/'
endif

export S6I_EXECLINEB := $(EXECLINEB)
export S6I_EXECLINE_BIN := $(EXECLINE_BIN)
export S6I_S6_BIN := $(S6_BIN)
export S6I_SVSCAN_MAX := $(SVSCAN_MAX)
export S6I_S6_VERSION := $(S6_VERSION)
# Each s6 release built for gets its own target directory (see
# check-s6-versions).
export CARGO_TARGET_DIR ?= $(CURDIR)/target

STEPS := s6i-args s6i-ensure s6i-clone s6i-env s6i-link s6i-wait-supervise s6i-unlink s6i-remove s6i-list s6i-signal s6i-status s6i-summary s6i-plan s6i-waves s6i-change s6i-sync s6i-template s6i-upgrade s6i-make s6i-watch s6i-recover
SCRIPTS := s6-instance-create s6-instance-delete s6-instance-list s6-instance-control s6-instance-status s6-instance-maker s6-instance-summary s6-instance-sync s6-instance-template s6-instance-upgrade s6-instance-watch
CHECK_PREFIX := $(CARGO_TARGET_DIR)/check

.PHONY: all install uninstall deb check deps-check s6rc check-deb check-s6-versions lint-man lint-fmt bench fuzz deps demo clean version

all:
	$(CARGO) build --release --locked

# Scripts are rewritten to reach execline and our steps by absolute path,
# so that they work whatever PATH they are run with.
install: all
	@test -n "$(EXECLINE_BIN)" || { echo "execline not found: install it or set EXECLINE_BIN" >&2; exit 1; }
	install -d $(DESTDIR)$(BINDIR)
	for s in $(STEPS); do install -m 0755 $(CARGO_TARGET_DIR)/release/$$s $(DESTDIR)$(BINDIR)/$$s || exit 1; done
	for s in $(SCRIPTS); do \
	  sed -e '1s|^#!.*|#!$(EXECLINE_BIN)/execlineb|' $(RELEASE_EDITS) \
	      -e 's|^\([ ]*\)\(s6i-[a-z-]*\)|\1$(BINDIR)/\2|' \
		      lib/$$s > $(DESTDIR)$(BINDIR)/$$s.tmp && \
	  chmod 0755 $(DESTDIR)$(BINDIR)/$$s.tmp && \
	  mv -f $(DESTDIR)$(BINDIR)/$$s.tmp $(DESTDIR)$(BINDIR)/$$s || exit 1; \
	done
	install -d $(DESTDIR)$(EXAMPLEDIR)
	cp -R examples/. $(DESTDIR)$(EXAMPLEDIR)/
	for f in examples/*; do [ -f "$$f" ] || continue; \
	  sed -e '1s|^#![^ ]*|#!$(EXECLINEB)|' \
	      -e '/^[^#]/s#\(^\|[ {]\)\(s6i-[a-z-]*\|s6-instance-[a-z]*\)\( \|$$\)#\1$(BINDIR)/\2\3#g' \
	      "$$f" > $(DESTDIR)$(EXAMPLEDIR)/$${f#examples/} || exit 1; \
	done
	# s6-rc's oneshots (execline command lines, no #!): ours by absolute path.
	for f in examples/s6-rc/source/*/up examples/s6-rc/source/*/down; do \
	  sed -e '/^[^#]/s#\(^\|[ {]\)\(s6i-[a-z-]*\|s6-instance-[a-z]*\)\( \|$$\)#\1$(BINDIR)/\2\3#g' \
	      "$$f" > $(DESTDIR)$(EXAMPLEDIR)/$${f#examples/} || exit 1; \
	done
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	for m in man/*.1; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/ || true; done
	for m in man/*.7; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man7/ || true; done

# What install put there, and the directories it made if they are left
# empty: into a DESTDIR, every one up to DESTDIR (not DESTDIR itself);
# into the live system, those below PREFIX, but for /usr's and
# /usr/local's bin, share and share/man, which are the hierarchy's own
# (hier(7)): install finds them, it does not make them. A directory that
# holds anything stays.
UNINSTALL_KEEP = $(if $(DESTDIR),,$(PREFIX) $(if $(filter /usr /usr/local,$(PREFIX)),$(BINDIR) $(MANDIR) $(PREFIX)/share))
uninstall:
	for s in $(STEPS) $(SCRIPTS); do rm -f $(DESTDIR)$(BINDIR)/$$s || exit 1; done
	for m in man/*.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$${m#man/} || exit 1; done
	for m in man/*.7; do rm -f $(DESTDIR)$(MANDIR)/man7/$${m#man/} || exit 1; done
	cd examples && for f in $$(find . ! -type d); do rm -f $(DESTDIR)$(EXAMPLEDIR)/$${f#./} || exit 1; done
	cd examples && for d in $$(find . -mindepth 1 -depth -type d); do \
	  [ ! -d $(DESTDIR)$(EXAMPLEDIR)/$${d#./} ] || find $(DESTDIR)$(EXAMPLEDIR)/$${d#./} -maxdepth 0 -empty -exec rmdir {} + || exit 1; \
	done
	for d in $(EXAMPLEDIR) $(MANDIR)/man1 $(MANDIR)/man7 $(BINDIR); do \
	  while [ -n "$$d" ]; do \
	    case " $(UNINSTALL_KEEP) " in (*" $$d "*) break;; esac; \
	    case "$(DESTDIR):$$d" in (:$(PREFIX)/*) ;; (:*) break;; esac; \
	    [ ! -d $(DESTDIR)$$d ] || find $(DESTDIR)$$d -maxdepth 0 -empty -exec rmdir {} + || exit 1; \
	    d=$${d%/*}; \
	  done; \
	done

# s6-rc, for tests/s6rc.rs only (never installed nor shipped): built
# once from the vendored release into S6RC_DIR, against Debian's
# skalibs-dev, libs6-dev and libexecline-dev (deps-check installs them
# as root). Where it cannot be built (no tarball, no -dev packages, not
# root to install them), S6RC_DIR/unavailable says why and the s6-rc
# tests say they are skipped with that reason; with S6RC_REQUIRED=1
# (.ci/run) that is an error instead. Outside CARGO_TARGET_DIR, so that
# check-s6-versions finds the one `make check` built before it.
S6RC_VERSION := 0.5.4.1
S6RC_TARBALL ?= $(abspath $(CURDIR)/../shared/vendor/s6-rc-$(S6RC_VERSION).tar.gz)
S6RC_DIR ?= $(CURDIR)/target/s6-rc
S6RC_REQUIRED ?=
S6RC_MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null)
S6RC_SYSDEPS ?= /usr/lib/$(S6RC_MULTIARCH)/skalibs/sysdeps
# Headers: Debian puts them below /usr/include/MULTIARCH.
S6RC_HEADERS_OK = for h in skalibs/skalibs.h s6/s6.h execline/execline.h; do \
  [ -f /usr/include/$$h ] || [ -f /usr/include/$(S6RC_MULTIARCH)/$$h ] || exit 1; done

s6rc: $(S6RC_DIR)/bin/s6-rc-update

$(S6RC_DIR)/bin/s6-rc-update:
	@rm -f $(S6RC_DIR)/unavailable
	@why=; \
	if [ ! -f "$(S6RC_TARBALL)" ]; then why="$(S6RC_TARBALL) not found"; \
	elif [ ! -f "$(S6RC_SYSDEPS)/sysdeps" ] || ! ( $(S6RC_HEADERS_OK) ); then \
	  why="skalibs-dev, libs6-dev or libexecline-dev not installed (no $(S6RC_SYSDEPS)/sysdeps or headers of skalibs, s6, execline)"; fi; \
	if [ -n "$$why" ]; then \
	  if [ -n "$(S6RC_REQUIRED)" ]; then echo "make s6rc: $$why" >&2; exit 1; fi; \
	  echo "make s6rc: not built: $$why; the s6-rc tests will be skipped" >&2; \
	  mkdir -p $(S6RC_DIR) && echo "$$why" > $(S6RC_DIR)/unavailable; exit 0; fi; \
	rm -rf $(S6RC_DIR)/src $(S6RC_DIR)/bin && mkdir -p $(S6RC_DIR)/src && \
	tar -xzf "$(S6RC_TARBALL)" -C $(S6RC_DIR)/src && \
	cd $(S6RC_DIR)/src/s6-rc-$(S6RC_VERSION) && \
	./configure --prefix=$(S6RC_DIR) --with-sysdeps=$(S6RC_SYSDEPS) >$(S6RC_DIR)/build.log 2>&1 && \
	$(MAKE) -j2 >>$(S6RC_DIR)/build.log 2>&1 && $(MAKE) install >>$(S6RC_DIR)/build.log 2>&1 || \
	{ echo "make s6rc: the build failed, see $(S6RC_DIR)/build.log" >&2; tail -n 20 $(S6RC_DIR)/build.log >&2; \
	  rm -rf $(S6RC_DIR)/bin; exit 1; }

# s6 and execline from Debian, when they are missing.
deps:
	@if ! command -v s6-svscan >/dev/null 2>&1 || \
	    ! test -x /usr/lib/execline/bin/execlineb -o -x /bin/execlineb; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y s6 execline; \
	  else echo "please install s6 and execline" >&2; exit 1; fi; \
	fi

# The tests also lint the man pages (mandoc) and run the Ansible
# playbook of examples/ansible (ansible-playbook); s6-rc is built for
# them against skalibs-dev, libs6-dev and libexecline-dev (see s6rc:
# without them, and not root, its tests are skipped, saying so).
deps-check: deps
	@if ! command -v mandoc >/dev/null 2>&1 || ! command -v ansible-playbook >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mandoc ansible-core; \
	  else echo "please install mandoc and ansible-core (ansible-playbook)" >&2; exit 1; fi; \
	fi
	@if [ ! -f "$(S6RC_SYSDEPS)/sysdeps" ] || ! ( $(S6RC_HEADERS_OK) ); then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y skalibs-dev libs6-dev libexecline-dev; \
	  else echo "deps-check: skalibs-dev, libs6-dev, libexecline-dev not installed (not root): the s6-rc tests will be skipped" >&2; fi; \
	fi

# The Debian package, into target/deb: what install puts below /usr
# (steps stripped, man pages gzipped), the copyright and changelog from
# debian/, and debian/preinst and postrm, which divert s6's own six
# s6-instance-* programs to /usr/bin/s6-instance-*.s6 and give them back.
# It depends on the s6 release it is built for (S6_VERSION: from that
# minor release to the next, whose commands behave otherwise) and on the
# installed execline. Built with Debian's own tools, no network.
DEB_NAME := s6-instance-steps
DEB_VERSION = $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
DEB_ARCH = $(shell dpkg --print-architecture)
DEB_DIR := $(CARGO_TARGET_DIR)/deb
DEB = $(DEB_DIR)/$(DEB_NAME)_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_ROOT := $(DEB_DIR)/root
DEB_DOC := $(DEB_ROOT)/usr/share/doc/$(DEB_NAME)

deb: deps
	@for t in dpkg dpkg-deb dpkg-query readelf strip gzip; do \
	  command -v $$t >/dev/null || { echo "make deb: $$t not found" >&2; exit 1; }; done
	@v=$$(sed -n '1s/^$(DEB_NAME) (\([^)]*\)).*/\1/p' debian/changelog); [ "$$v" = "$(DEB_VERSION)" ] || \
	  { echo "make deb: debian/changelog is for $$v, Cargo.toml for $(DEB_VERSION)" >&2; exit 1; }
	rm -rf $(DEB_ROOT)
	$(MAKE) install PREFIX=/usr DESTDIR=$(DEB_ROOT) \
	  EXECLINE_BIN=/usr/lib/execline/bin EXECLINEB=/usr/bin/execlineb S6_BIN=/usr/bin
	@for s in $(STEPS); do ! readelf -l $(DEB_ROOT)/usr/bin/$$s | grep -q 'program interpreter' || \
	  { echo "make deb: $$s is linked dynamically (.cargo/config.toml links statically on x86_64 and aarch64 only): its libc is no dependency of the package" >&2; exit 1; }; done
	strip --strip-unneeded --remove-section=.comment --remove-section=.note $(addprefix $(DEB_ROOT)/usr/bin/,$(STEPS))
	gzip -9n $(DEB_ROOT)/usr/share/man/man1/* $(DEB_ROOT)/usr/share/man/man7/*
	install -m 0644 debian/copyright $(DEB_DOC)/copyright
	gzip -9n < debian/changelog > $(DEB_DOC)/changelog.gz
	install -d $(DEB_ROOT)/usr/share/lintian/overrides $(DEB_ROOT)/DEBIAN
	install -m 0644 debian/lintian-overrides $(DEB_ROOT)/usr/share/lintian/overrides/$(DEB_NAME)
	install -m 0755 debian/preinst debian/postrm $(DEB_ROOT)/DEBIAN/
	chmod -R u+rwX,go=rX $(DEB_ROOT)
	cd $(DEB_ROOT) && find usr -type f -exec md5sum {} + | sort -k 2 > DEBIAN/md5sums
	execline=$$(dpkg-query -W -f '$${Version}' execline | sed 's/^[0-9]*://; s/-[^-]*$$//') && \
	libc=$$(dpkg-query -W -f '$${source:Package} (= $${source:Version})' libc6-dev) && \
	size=$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f 1) && \
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' -e "s/@SIZE@/$$size/" \
	    -e "s/@EXECLINE@/$$execline/" -e "s/@BUILT_USING@/$$libc/" \
	    -e "s/@S6_MIN@/$$(echo $(S6_VERSION) | cut -d. -f1,2)/" \
	    -e "s/@S6_NEXT@/$$(echo $(S6_VERSION) | awk -F. '{ print $$1 "." $$2 + 1 }')/" \
	    debian/control.in > $(DEB_ROOT)/DEBIAN/control
	SOURCE_DATE_EPOCH=$$(date -d "$$(sed -n 's/^ -- .*>  //p' debian/changelog | head -n 1)" +%s) \
	  dpkg-deb --root-owner-group --build $(DEB_ROOT) $(DEB)

# The package for real (root: it installs it): lintian, then dpkg -i,
# upgrade, s6 reinstalled meanwhile, remove, purge, a failed install;
# s6's programs back byte for byte each time. See .ci/deb-test.
check-deb: deb
	.ci/deb-test $(DEB)

# The tests run the release programs installed here; they need no
# optimised build of their own. The steps have a C main (no test harness):
# the library and the integration tests are what runs.
check: deps-check lint-man lint-fmt s6rc
	$(MAKE) install PREFIX=$(CHECK_PREFIX) DESTDIR=
	S6I_BINDIR=$(CHECK_PREFIX)/bin S6I_S6RC_BINDIR=$(S6RC_DIR)/bin $(CARGO) test --locked --no-fail-fast --lib --test '*'

# The whole suite again against s6 2.13 (Debian 13) and the latest s6
# (Debian unstable), each overlaid on /usr in a private mount namespace:
# root only. S6_SUITES picks other Debian suites.
S6_SUITES ?= trixie sid
check-s6-versions:
	.ci/s6-versions $(S6_SUITES)

# What this build is for.
version:
	@echo "s6 $(S6_VERSION) (s6-svscan -$(SVSCAN_MAX), programs in $(S6_BIN)), execline in $(EXECLINE_BIN)"

# Every program has a page, and mandoc finds nothing to say about any.
lint-man: deps-check
	@fail=0; for p in $(STEPS) $(SCRIPTS); do \
	  [ -f man/$$p.1 ] || { echo "man/$$p.1: missing" >&2; fail=1; }; \
	done; \
	for m in man/*.[17]; do \
	  out=$$(mandoc -T lint -W warning $$m 2>&1); \
	  [ -z "$$out" ] || { echo "$$out" >&2; fail=1; }; \
	done; exit $$fail

# The code as rustfmt lays it out (rustfmt comes with rustup's default
# profile; a toolchain without it is said, not failed).
lint-fmt:
	@if $(CARGO) fmt --version >/dev/null 2>&1; then $(CARGO) fmt --check; \
	else echo "lint-fmt: rustfmt not installed: formatting not checked" >&2; fi

# Timings beside s6's C programs, on tmpfs.
bench: deps
	$(MAKE) install PREFIX=$(CHECK_PREFIX) DESTDIR=
	TMPDIR=/dev/shm S6I_BINDIR=$(CHECK_PREFIX)/bin $(CARGO) bench --locked --bench ops

# Each fuzz target for FUZZ_SECONDS (cargo-fuzz and a nightly toolchain
# needed: `cargo install cargo-fuzz`). Not part of check: CI has no nightly.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := getopt args name svstatus operands
fuzz:
	@$(CARGO) +nightly fuzz --version >/dev/null 2>&1 || \
	  { echo "make fuzz: needs a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz)" >&2; exit 1; }
	for t in $(FUZZ_TARGETS); do \
	  $(CARGO) +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 || exit 1; \
	done

# The build says what it does (cargo's own lines, on stderr): on a fresh
# machine it takes minutes, which must not look like a hang.
demo: deps
	@echo "demo: building and installing under target/demo (the first build takes a few minutes)" >&2
	@$(MAKE) -s install PREFIX=$(CURDIR)/target/demo DESTDIR= >/dev/null
	@echo "demo: built; running examples/demo" >&2
	@PATH=$(EXECLINE_BIN):$$PATH $(EXECLINE_BIN)/execlineb -S1 examples/demo $(CURDIR)/target/demo/bin

clean:
	$(CARGO) clean

# s6-instance-steps: build, install, test, demo.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
MANDIR := $(PREFIX)/share/man
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
# s6-svscan's option for the number of services: -c up to s6 2.14; s6
# 2.15 dropped it for -C (which 2.12 to 2.14 also know). s6-svscan has
# no --version: one that rejects -c (exit 100, where an older one fails
# to chdir, 111) wants -C.
SVSCAN_MAX ?= $(shell $(S6_BIN)/s6-svscan -c 1 $(CURDIR)/target/.s6i-nowhere >/dev/null 2>&1; [ $$? = 100 ] && echo C || echo c)
export S6I_EXECLINEB := $(EXECLINEB)
export S6I_EXECLINE_BIN := $(EXECLINE_BIN)
export S6I_S6_BIN := $(S6_BIN)
export S6I_SVSCAN_MAX := $(SVSCAN_MAX)

STEPS := s6i-args s6i-ensure s6i-clone s6i-link s6i-wait-supervise s6i-unlink s6i-remove s6i-list s6i-signal s6i-status s6i-make
SCRIPTS := s6-instance-create s6-instance-delete s6-instance-list s6-instance-control s6-instance-status s6-instance-maker
CHECK_PREFIX := $(CURDIR)/target/check

.PHONY: all install check lint-man bench fuzz deps demo clean

all:
	$(CARGO) build --release --locked

# Scripts are rewritten to reach execline and our steps by absolute path,
# so that they work whatever PATH they are run with.
install: all
	@test -n "$(EXECLINE_BIN)" || { echo "execline not found: install it or set EXECLINE_BIN" >&2; exit 1; }
	install -d $(DESTDIR)$(BINDIR)
	for s in $(STEPS); do install -m 0755 target/release/$$s $(DESTDIR)$(BINDIR)/$$s || exit 1; done
	for s in $(SCRIPTS); do \
	  sed -e '1s|^#!.*|#!$(EXECLINE_BIN)/execlineb|' \
	      -e 's|^\([ ]*\)\(s6i-[a-z-]*\)|\1$(BINDIR)/\2|' \
		      lib/$$s > $(DESTDIR)$(BINDIR)/$$s.tmp && \
	  chmod 0755 $(DESTDIR)$(BINDIR)/$$s.tmp && \
	  mv -f $(DESTDIR)$(BINDIR)/$$s.tmp $(DESTDIR)$(BINDIR)/$$s || exit 1; \
	done
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	for m in man/*.1; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/ || true; done
	for m in man/*.7; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man7/ || true; done

# s6 and execline from Debian, when they are missing.
deps:
	@if ! command -v s6-svscan >/dev/null 2>&1 || ! command -v mandoc >/dev/null 2>&1 || \
	    ! test -x /usr/lib/execline/bin/execlineb -o -x /bin/execlineb; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y s6 execline mandoc; \
	  else echo "please install s6 and execline" >&2; exit 1; fi; \
	fi

check: deps lint-man
	$(MAKE) install PREFIX=$(CHECK_PREFIX) DESTDIR=
	S6I_BINDIR=$(CHECK_PREFIX)/bin $(CARGO) test --release --locked

# Every program has a page, and mandoc finds nothing to say about any.
lint-man:
	@fail=0; for p in $(STEPS) $(SCRIPTS); do \
	  [ -f man/$$p.1 ] || { echo "man/$$p.1: missing" >&2; fail=1; }; \
	done; \
	for m in man/*.[17]; do \
	  out=$$(mandoc -T lint -W warning $$m 2>&1); \
	  [ -z "$$out" ] || { echo "$$out" >&2; fail=1; }; \
	done; exit $$fail

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

demo: deps
	@$(MAKE) -s install PREFIX=$(CURDIR)/target/demo DESTDIR= >/dev/null
	@PATH=$(EXECLINE_BIN):$$PATH $(EXECLINE_BIN)/execlineb -S1 examples/demo $(CURDIR)/target/demo/bin

clean:
	$(CARGO) clean

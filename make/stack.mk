# The second stack, TFX 1.21 on Python 3.13, proven in a Debian 13 chroot
# (stacks/README.md). Needs root and debootstrap; not part of .ci/run (it takes
# longer than CI allows). The chroot (stacks/trixie/chroot/, git-ignored) is
# reused; a first run downloads ~2 GB.
#   make test-trixie            `make run` + `make test` inside, result in
#                               stacks/trixie/last_result.json
#   make trixie-resolve         re-freeze stacks/constraints-tfx121-py313.txt
#   make trixie-pytest ARGS=... a subset of the tests inside the chroot
#   make trixie-shell           a shell inside, the TFX 1.21 venv on PATH
TRIXIE := stacks/trixie/run.sh

.PHONY: test-trixie trixie-resolve trixie-pytest trixie-shell

test-trixie:
	$(TRIXIE) all

trixie-resolve:
	$(TRIXIE) resolve

trixie-pytest:
	$(TRIXIE) pytest $(ARGS)

trixie-shell:
	$(TRIXIE) shell

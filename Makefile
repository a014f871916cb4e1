# The two commands of the README:
#   make demo   generate a shot, run it through a local server over ZeroMQ, write EXRs + contact sheet
#   make test   the whole test suite (Python 3.11 everything; Python 3.9 the Nuke-side client)
PY39_TESTS = tests/spine/test_shot.py tests/spine/test_exrio.py tests/spine/test_protocol.py tests/spine/test_progress.py \
	tests/spine/test_preflight.py tests/spine/test_versions.py tests/spine/test_cli.py tests/nuke tests/farm \
	tests/spine/test_properties.py tests/spine/test_atomic.py

.PHONY: demo test install clean

install:
	./scripts/install.sh

demo: install
	.venv/bin/void-nuke demo --out demo-output

test: install
	.venv/bin/python -m pytest
	if [ -x .venv39/bin/python ]; then .venv39/bin/python -m pytest -m "not server" $(PY39_TESTS); fi

clean:
	rm -rf .venv .venv39 demo-output

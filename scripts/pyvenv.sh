#!/usr/bin/env bash
# pyvenv.sh REQUIREMENTS...: makes (once) a Python virtual environment with
# `pip install -r` of each requirements file, outside git, and prints its
# directory on stdout. The environment is
#   ${ZOMBI_CACHE:-~/.cache/zombi}/venv-<hash>
# where the hash covers the interpreter's version and the requirements files'
# contents: a changed file gives a new environment (environments unused for
# a week are removed), an unchanged one is reused in well under a second.
#
# Downloads are kept in ${ZOMBI_CACHE}/wheels, so that re-creating an
# environment on the same machine installs offline (`--no-index
# --find-links`): pip's own HTTP cache (~/.cache/pip) stays empty here,
# because the package index answers without the validators (Cache-Control,
# ETag, Last-Modified) it needs to keep a response.
#
# The interpreter is $ZOMBI_PYTHON, else the `python3` on PATH (a pyenv
# CPython 3.11 here; Debian's /usr/bin/python3 would need python3-venv).
# Concurrent callers (go test runs packages in parallel) wait on a lock.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 REQUIREMENTS..." >&2; exit 2; }
py=${ZOMBI_PYTHON:-python3}
command -v "$py" >/dev/null || { echo "pyvenv: no $py on PATH" >&2; exit 3; }
for r in "$@"; do [ -f "$r" ] || { echo "pyvenv: no file $r" >&2; exit 2; }; done

cache=${ZOMBI_CACHE:-$HOME/.cache/zombi}
wheels=$cache/wheels
mkdir -p "$cache" "$wheels"
hash=$({ "$py" -c 'import sys; print(sys.version)'; cat "$@"; } | sha256sum | cut -c1-16)
venv=$cache/venv-$hash

exec 9>"$cache/venv.lock"
flock 9
if [ -f "$venv/.complete" ]; then
	touch "$venv/.complete"
	echo "$venv"
	exit 0
fi

rm -rf "$venv"
start=$(date +%s)
echo "pyvenv: creating $venv ($*)" >&2
"$py" -m venv "$venv" >&2
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
for r in "$@"; do
	if ! "${pip[@]}" install --quiet --no-index --find-links "$wheels" -r "$r" >/dev/null 2>&1; then
		"${pip[@]}" wheel --quiet --wheel-dir "$wheels" -r "$r" >&2
		"${pip[@]}" install --quiet --no-index --find-links "$wheels" -r "$r" >&2
	fi
done
# The files it was made from, for whoever looks at it later.
cat "$@" >"$venv/requirements.txt"
touch "$venv/.complete"
echo "pyvenv: ready in $(($(date +%s) - start)) s" >&2

# Environments of other requirements files, unused for a week.
for d in "$cache"/venv-*; do
	[ "$d" = "$venv" ] && continue
	if [ -z "$(find "$d" -maxdepth 1 -name .complete -mtime -7)" ]; then rm -rf "$d"; fi
done
echo "$venv"

#!/bin/sh
# SPDX-License-Identifier: MIT
# test-deb.sh - the Debian package, black box: build confab_*.deb from a temporary copy of this
# tree (dpkg-buildpackage writes into the parent directory), lintian it (any error or warning
# fails), dpkg -i it over a root-owned /var/lib/confab (as a confabd run by hand as root leaves
# it; one already there is set aside and put back), check what it installed, run
# debian/tests/smoke (the installed confabd as _confab with the installed configuration, on a
# free port, without systemd, and a chat through it), then dpkg -r and dpkg -P and check that
# nothing is left but what Debian policy keeps (the _confab system user). Run as root on Debian
# 12 where confab is not installed; the machine is left as it was found (purge and user removal
# in a trap, also on failure).
# The package build runs the unit tests (dh_auto_test: ctest; libcmocka-dev is a <!nocheck>
# build dependency); CONFAB_DEB_NOCHECK=1 builds with the nocheck profile instead.
set -eu
cd "$(dirname "$0")/../.."
PKG=confab

fail() {
	echo "test-deb: FAIL: $*" >&2
	exit 1
}
say() { echo "test-deb: $*"; }
installed() { dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$'; }

[ "$(id -u)" = 0 ] || fail "must run as root (dpkg -i)"
start=$(date +%s)

# One package test at a time on this machine: they install the same package.
lockdir=/run/lock
[ -d "$lockdir" ] || lockdir=/tmp
exec 9>"$lockdir/confab-test-deb.lock"
flock -w 900 9 || fail "another test-deb.sh holds $lockdir/confab-test-deb.lock"

# dpkg ACTION LOG ARGS...: runs dpkg, waiting (up to 5 min) while apt or dpkg elsewhere on this
# machine holds the dpkg lock; on failure prints the log.
dpkg_run() {
	log=$1
	shift
	tries=0
	while ! dpkg "$@" >"$log" 2>&1; do
		if grep -q 'locked by another process' "$log" && [ "$tries" -lt 150 ]; then
			tries=$((tries + 1))
			sleep 2
			continue
		fi
		cat "$log" >&2
		return 1
	done
}

if installed; then
	fail "package $PKG is already installed here (status: $(dpkg-query -W -f='${db:Status-Abbrev}' $PKG)); not touching it"
fi
had_user=0
getent passwd _confab >/dev/null && had_user=1
had_group=0
getent group _confab >/dev/null && had_group=1

W=$(mktemp -d /tmp/confab-deb.XXXXXX)
had_state=0 made_state=0
cleanup() {
	rc=$?
	set +e
	if installed; then
		say "cleanup: purging $PKG"
		dpkg_run "$W/dpkg-cleanup.log" -P "$PKG"
	fi
	[ "$made_state" = 0 ] || rm -rf /var/lib/confab
	if [ "$had_state" = 1 ] && [ ! -e /var/lib/confab ]; then
		mv "$W/var-lib-confab" /var/lib/confab && say "cleanup: /var/lib/confab put back"
	elif [ "$had_state" = 1 ]; then # something made another meanwhile: keep both
		keep=$(mktemp -d /var/tmp/confab-state.XXXXXX)
		mv "$W/var-lib-confab" "$keep/" && say "cleanup: the /var/lib/confab found is in $keep"
	fi
	[ "$had_user" = 1 ] || ! getent passwd _confab >/dev/null || userdel _confab
	[ "$had_group" = 1 ] || ! getent group _confab >/dev/null || groupdel _confab
	rm -rf "$W"
	say "$([ $rc = 0 ] && echo passed || echo FAILED) in $(($(date +%s) - start)) s"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- build, from a copy: the tracked and untracked-but-not-ignored files of this checkout
mkdir "$W/src"
if [ -e .git ]; then
	git ls-files -co --exclude-standard -z | tar -c --null -T - | tar -x -C "$W/src"
else
	tar -c --exclude='./build*' . | tar -x -C "$W/src"
fi
jobs=$(nproc)
if [ "${CONFAB_DEB_NOCHECK:-0}" = 1 ]; then
	opts="nocheck parallel=$jobs" profiles="-Pnocheck"
else
	opts="parallel=$jobs" profiles=""
fi
say "dpkg-buildpackage -us -uc -b $profiles (DEB_BUILD_OPTIONS=$opts) in $W/src"
# shellcheck disable=SC2086
if ! (cd "$W/src" && DEB_BUILD_OPTIONS="$opts" timeout 900 dpkg-buildpackage -us -uc -b \
	$profiles >"$W/build.log" 2>&1); then
	tail -n 60 "$W/build.log" >&2
	fail "dpkg-buildpackage failed (log above)"
fi
version=$(cd "$W/src" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
deb="$W/${PKG}_${version}_${arch}.deb"
changes="$W/${PKG}_${version}_${arch}.changes"
[ -f "$deb" ] || fail "no $deb"
[ -f "$W/${PKG}-dbgsym_${version}_${arch}.deb" ] || fail "no dbgsym package"
say "built $(cd "$W" && echo ./*.deb)"

# --- lintian: errors and warnings fail; the rest is shown
say "lintian"
lintian_rc=0
timeout 300 lintian --fail-on error,warning --display-info --display-experimental --pedantic --show-overrides "$changes" \
	>"$W/lintian.log" 2>&1 || lintian_rc=$?
grep -v 'running with root privileges is not recommended' "$W/lintian.log" || true
[ "$lintian_rc" = 0 ] || fail "lintian reported errors or warnings (exit $lintian_rc)"
! grep -q '^[EW]: ' "$W/lintian.log" || fail "lintian reported errors or warnings"

# --- what the package declares
fields=$(dpkg-deb -f "$deb" Depends Suggests)
echo "$fields" | grep -q 'libwebsockets17' || fail "Depends lacks libwebsockets17: $fields"
echo "$fields" | grep -q '^Suggests: nginx, redis-server$' || fail "Suggests: $fields"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/confab/confab.conf || fail "confab.conf is no conffile"

# --- a state directory left by a confabd run as root before the package came (as a sysadmin
# trying it by hand does, and scripts/run.sh did): root's, with a signing key only root can
# read. The package takes it over (debian/confab.tmpfiles: Z) and keeps the key. One found here
# (a confabd run as root with the default state.dir) is set aside and put back afterwards.
if [ -e /var/lib/confab ]; then
	mv /var/lib/confab "$W/var-lib-confab"
	had_state=1
	say "/var/lib/confab set aside in $W for the test"
fi
mkdir -m 0750 /var/lib/confab
made_state=1
(
	umask 077
	key=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
	echo "$key" >/var/lib/confab/auth.key
)
cp /var/lib/confab/auth.key "$W/auth.key"

# --- install
say "dpkg -i $(basename "$deb")"
dpkg_run "$W/dpkg-i.log" -i "$deb" || fail "dpkg -i failed"
dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" | grep -q '^ii' || fail "not installed after dpkg -i"
dpkg -L "$PKG" >"$W/files"
for f in /usr/sbin/confabd /etc/confab/confab.conf /usr/share/confab/www/index.html \
	/usr/share/confab/www/app.js /usr/share/man/man8/confabd.8.gz \
	/usr/share/man/man5/confab.conf.5.gz /usr/lib/sysusers.d/confab.conf \
	/lib/systemd/system/confab.service /lib/systemd/system/confab.socket \
	/lib/systemd/system/confab@.service /lib/systemd/system/confab@.socket \
	/usr/share/doc/confab/copyright /usr/share/doc/confab/README.md \
	/usr/lib/tmpfiles.d/confab.conf; do
	[ -e "$f" ] || fail "$f not installed"
	grep -qx "$f" "$W/files" || fail "$f not listed by dpkg -L"
done
# The _confab system user, from the sysusers file (systemd-sysusers in postinst).
pw=$(getent passwd _confab) || fail "postinst did not create the _confab user"
uid=$(echo "$pw" | cut -d: -f3)
if [ "$uid" -le 0 ] || [ "$uid" -ge 1000 ]; then
	fail "_confab is not a system user: $pw"
fi
echo "$pw" | grep -q ':/var/lib/confab:' || fail "_confab home: $pw"
# The state directory, from the tmpfiles entry (systemd-tmpfiles in postinst), owned by _confab.
[ "$(stat -c '%U:%G %a' /var/lib/confab)" = "_confab:_confab 750" ] ||
	fail "/var/lib/confab: $(stat -c '%U:%G %a' /var/lib/confab 2>&1)"
# And what was in it, modes kept.
[ "$(stat -c '%U:%G %a' /var/lib/confab/auth.key)" = "_confab:_confab 600" ] ||
	fail "/var/lib/confab/auth.key: $(stat -c '%U:%G %a' /var/lib/confab/auth.key 2>&1)"
# confab.service enabled (deb-systemd-helper works without a running systemd); confab.socket not.
[ -L /etc/systemd/system/multi-user.target.wants/confab.service ] || fail "confab.service not enabled"
[ ! -e /etc/systemd/system/sockets.target.wants/confab.socket ] || fail "confab.socket enabled"
# The installed configuration points at the installed web client (the built-in default).
/usr/sbin/confabd --config /etc/confab/confab.conf --check-config |
	grep -qx 'www_dir = /usr/share/confab/www' || fail "www_dir is not /usr/share/confab/www"
# The man pages tell the truth: every key of the table in confab.conf(5), every option in
# confabd(8).
conf5=$(zcat /usr/share/man/man5/confab.conf.5.gz | sed 's/\\-/-/g')
/usr/sbin/confabd --config /dev/null --check-config | sed -n 's/^#\{0,1\}\([a-z_0-9]*\) =.*/\1/p' |
	while read -r key; do
		echo "$conf5" | grep -q "^\.BR $key " || fail "confab.conf(5) lacks key $key"
	done
man8=$(zcat /usr/share/man/man8/confabd.8.gz | sed 's/\\-/-/g')
/usr/sbin/confabd --help | grep -o -- '--[a-z-]*' | sort -u | while read -r opt; do
	echo "$man8" | grep -q -- "$opt" || fail "confabd(8) lacks $opt"
done

# --- run it as _confab with the installed config, and chat through it
say "smoke test of the installed package"
CONFAB_SMOKE_ACCOUNT="$W/account" timeout 120 /usr/bin/python3 "$W/src/debian/tests/smoke" ||
	fail "smoke test failed"
cmp -s /var/lib/confab/auth.key "$W/auth.key" ||
	fail "the signing key found in /var/lib/confab before installing was replaced"

# --- an upgrade (the same package installed again: prerm upgrade, postinst configure) keeps the
# state: the account the smoke test registered still logs in, with its password and token
say "dpkg -i again: the state survives an upgrade"
dpkg_run "$W/dpkg-i2.log" -i "$deb" || fail "dpkg -i (again) failed"
CONFAB_SMOKE_ACCOUNT="$W/account" CONFAB_SMOKE_LOGIN=1 timeout 120 \
	/usr/bin/python3 "$W/src/debian/tests/smoke" || fail "smoke test after the upgrade failed"

# --- remove: the conffile stays
say "dpkg -r"
dpkg_run "$W/dpkg-r.log" -r "$PKG" || fail "dpkg -r failed"
dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" | grep -q '^rc' || fail "not in config-files state"
[ ! -e /usr/sbin/confabd ] || fail "/usr/sbin/confabd left after dpkg -r"
[ ! -e /usr/share/confab ] || fail "/usr/share/confab left after dpkg -r"
[ -f /etc/confab/confab.conf ] || fail "dpkg -r removed the conffile"

# --- purge: nothing left but the system user
say "dpkg -P"
dpkg_run "$W/dpkg-p.log" -P "$PKG" || fail "dpkg -P failed"
! installed || fail "still known to dpkg after purge"
[ ! -e /etc/confab ] || fail "/etc/confab left after purge"
[ ! -e /var/lib/confab ] || fail "/var/lib/confab left after purge"
left=$(find /etc/systemd /var/lib/systemd -name 'confab*' 2>/dev/null)
[ -z "$left" ] || fail "left after purge: $left"
while read -r f; do
	[ "$f" = /. ] && continue
	[ -e "$f" ] || [ -L "$f" ] || continue
	# A directory other packages share (/etc, /usr/share/man/man8, ...) stays.
	if [ -d "$f" ] && dpkg-query -S "$f" >/dev/null 2>&1; then
		continue
	fi
	fail "$f left after purge"
done <"$W/files"
getent passwd _confab >/dev/null || fail "purge removed the _confab system user (policy keeps it)"
say "the _confab user is kept after purge, as Debian policy wants (removed again by this test)"

#!/bin/sh
# Install the macOS command simulator into the Debian container this runs in.
# Idempotent: a second run changes nothing. `install.sh --reset` also deletes
# the simulator state, so the next command starts from a fresh Mac Studio.
# MACSIM_ROOT (default empty) prefixes every path written, for tests of this
# script; the links always point at the in-container simulator path.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
LIB_DIR=/usr/local/lib/macsim
SIMULATOR=$LIB_DIR/macsim.py
STATE_DIR=/var/lib/macsim

# Commands that live in /usr/local/bin, ahead of the Linux tools in PATH.
PATH_COMMANDS="networksetup ifconfig sw_vers xcode-select launchctl dscl dseditgroup defaults newsyslog macsim-log"
# Homebrew's own bin directory on Apple silicon; community.general.homebrew
# searches /usr/local/bin:/opt/homebrew/bin, and cmake only exists after
# `brew install cmake`, as on the Mac (the simulator enforces that).
BREW_COMMANDS="brew cmake"
# Absolute paths the tools have on macOS. Linked only where Debian has nothing,
# so tasks that call e.g. /usr/sbin/networksetup work too.
MAC_PATHS="/usr/sbin/networksetup /sbin/ifconfig /bin/launchctl /usr/bin/xcode-select /usr/bin/sw_vers
/usr/bin/dscl /usr/sbin/dseditgroup /usr/bin/defaults /usr/sbin/newsyslog /sbin/ping
/usr/bin/clang /usr/bin/xcodebuild"
# pfctl lives in /sbin on macOS; Debian has none.
PF_PATHS="/sbin/pfctl"
# The PATH a non-login SSH session gets on macOS (the one in /etc/paths, without
# /usr/local/bin), and the one sudo keeps there: macOS's sudoers sets no
# secure_path, so a command run with sudo searches the session's PATH.
MAC_SESSION_PATH=/usr/bin:/bin:/usr/sbin:/sbin

ROOT=${MACSIM_ROOT:-}

link() {
    # Create or keep our own link; never replace a real tool.
    target=$ROOT$1
    current=$(readlink "$target" || true)
    [ "$current" = "$SIMULATOR" ] && return 0
    if [ -e "$target" ] || [ -L "$target" ]; then
        echo "install.sh: leaving existing $1 alone" >&2
        return 0
    fi
    install -d -m 0755 "$(dirname "$target")"
    ln -s "$SIMULATOR" "$target"
}

for directory in "$LIB_DIR" /usr/local/bin /opt/homebrew/bin \
    /Library/LaunchDaemons /Library/LaunchAgents /Library/Preferences; do
    install -d -m 0755 "$ROOT$directory"
done
# The state is written by root and by the admin user (see _locked in macsim.py).
install -d -m 0777 "$ROOT$STATE_DIR"
[ "$(stat -c %a "$ROOT$STATE_DIR")" = 777 ] || chmod 0777 "$ROOT$STATE_DIR"
cmp -s "$HERE/macsim.py" "$ROOT$SIMULATOR" || install -m 0755 "$HERE/macsim.py" "$ROOT$SIMULATOR"

# Programs that really run on the simulated Mac, where the Mac has them: the
# container's iperf3 only under Homebrew's bin, once `brew install iperf3`
# linked it there (macsim.py), and its ping behind /sbin/ping with macOS's
# flags. Debian's copies leave PATH (dpkg-divert), as they are not on a Mac.
REAL_DIR=$LIB_DIR/real
if [ -z "$ROOT" ]; then
    install -d -m 0755 "$REAL_DIR"
    if [ ! -e "$REAL_DIR/iperf3" ] && [ ! -x /usr/bin/iperf3 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iperf3 >/dev/null
        echo "install.sh: installed iperf3"
    fi
    for program in iperf3 ping; do
        if [ ! -e "$REAL_DIR/$program" ]; then
            dpkg-divert --local --rename --divert "$REAL_DIR/$program" --add "/usr/bin/$program" >/dev/null
            echo "install.sh: /usr/bin/$program moved to $REAL_DIR/$program"
        fi
    done
fi

for command in $PATH_COMMANDS; do
    link "/usr/local/bin/$command"
done
for command in $BREW_COMMANDS; do
    link "/opt/homebrew/bin/$command"
done
for path in $MAC_PATHS; do
    link "$path"
done

# What an SSH session looks like on the Mac (only where sshd and sudo exist,
# i.e. in the lab container, not in the unit tests' scratch root).
if [ -d "$ROOT/etc/ssh/sshd_config.d" ]; then
    conf="$ROOT/etc/ssh/sshd_config.d/macsim.conf"
    want="SetEnv PATH=$MAC_SESSION_PATH"
    if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
        echo "$want" > "$conf"
        [ -z "$ROOT" ] && systemctl reload-or-restart ssh.service
        echo "install.sh: SSH sessions get PATH=$MAC_SESSION_PATH"
    fi
fi
if [ -d "$ROOT/etc/sudoers.d" ]; then
    rule="$ROOT/etc/sudoers.d/macsim"
    want="Defaults secure_path=\"$MAC_SESSION_PATH\""
    if [ "$(cat "$rule" 2>/dev/null)" != "$want" ]; then
        echo "$want" > "$rule.new"
        chmod 0440 "$rule.new"
        if [ -z "$ROOT" ]; then visudo -cf "$rule.new" >/dev/null; fi
        mv "$rule.new" "$rule"
        echo "install.sh: sudo keeps PATH=$MAC_SESSION_PATH"
    fi
fi

for path in $PF_PATHS; do
    link "$path"
done

# Apple's stock pf files, as macOS ships them (and as an OS update writes them
# back): the main ruleset with the com.apple anchor points, which says pf is not
# enabled at boot, and the com.apple anchor file it loads. Copies of both:
# initialed85/mac_os_scripts mac_os_scripts_tests/enable_restricted_ssh_test.py
# (pf.conf) and scottslowe/weblog content/post/2013-05-15-using-pf-on-os-x-mountain-lion.md.
# Kept beside the simulator too, so a test can play an OS update.
install -d -m 0755 "$ROOT/etc/pf.anchors"
STAGE=$(mktemp -d)
cat > "$STAGE/pf.conf.apple" <<'PFCONF'
#
# Default PF configuration file.
#
# This file contains the main ruleset, which gets automatically loaded
# at startup.  PF will not be automatically enabled, however.  Instead,
# each component which utilizes PF is responsible for enabling and disabling
# PF via -E and -X as documented in pfctl(8).  That will ensure that PF
# is disabled only when the last enable reference is released.
#
# Care must be taken to ensure that the main ruleset does not get flushed,
# as the nested anchors rely on the anchor point defined here. In addition,
# to the anchors loaded by this file, some system services would dynamically
# insert anchors into the main ruleset. These anchors will be added only when
# the system service is used and would removed on termination of the service.
#
# See pf.conf(5) for syntax.
#

#
# com.apple anchor point
#
scrub-anchor "com.apple/*"
nat-anchor "com.apple/*"
rdr-anchor "com.apple/*"
dummynet-anchor "com.apple/*"
anchor "com.apple/*"
load anchor "com.apple" from "/etc/pf.anchors/com.apple"
PFCONF
cat > "$STAGE/pf.anchors.com.apple" <<'PFANCHOR'
#
# com.apple ruleset, referred to by the default /etc/pf.conf file.
# See notes in that file regarding the anchor point in the main ruleset.
#
# Copyright (c) 2011 Apple Inc. All rights reserved.
#

#
# AirDrop anchor point.
#
anchor "200.AirDrop/*"

#
# Application Firewall anchor point.
#
anchor "250.ApplicationFirewall/*"
PFANCHOR
for stock in pf.conf.apple pf.anchors.com.apple; do
    cmp -s "$STAGE/$stock" "$ROOT$LIB_DIR/$stock" || install -m 0644 "$STAGE/$stock" "$ROOT$LIB_DIR/$stock"
done
rm -rf "$STAGE"
[ -e "$ROOT/etc/pf.conf" ] || install -m 0644 "$ROOT$LIB_DIR/pf.conf.apple" "$ROOT/etc/pf.conf"
[ -e "$ROOT/etc/pf.anchors/com.apple" ] || install -m 0644 "$ROOT$LIB_DIR/pf.anchors.com.apple" "$ROOT/etc/pf.anchors/com.apple"

if [ "${1:-}" = "--reset" ]; then
    rm -f "$ROOT$STATE_DIR/state.json" "$ROOT$STATE_DIR/state.json.lock"
fi

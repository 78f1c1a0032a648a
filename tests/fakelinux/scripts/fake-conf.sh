#!/bin/sh
# fake-conf.sh CONFIG: the fake tree's "conf" (kbuild's syncconfig), run before every build.
# It leaves the config alone, except that CONFIG_CONF_DROPS="A B" makes it turn CONFIG_A and
# CONFIG_B off where they are on, as conf does with a symbol whose dependencies it finds unmet.
cfg="$1"
[ -f "$cfg" ] || exit 0
drops=$(sed -n 's/^CONFIG_CONF_DROPS="\(.*\)"$/\1/p' "$cfg")
for sym in $drops; do
	if grep -q "^CONFIG_$sym=" "$cfg"; then
		sed "s/^CONFIG_$sym=.*/# CONFIG_$sym is not set/" "$cfg" > "$cfg.conf-tmp" && mv "$cfg.conf-tmp" "$cfg"
	fi
done

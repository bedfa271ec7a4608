#!/bin/sh
# dccscan-prometheus: run `dccscan scan`, then publish its metrics.prom into node_exporter's
# textfile collector directory, atomically.
#
#   dccscan-prometheus COLLECTOR_FILE OUT_DIR [dccscan scan options...]
#
# e.g. dccscan-prometheus /var/lib/prometheus/node-exporter/dccscan.prom \
#          /var/lib/dccscan/reports/20261206T023000Z --targets /etc/dccscan/targets.toml --quiet
#
# The collector reads every *.prom file of its directory at each scrape, so a half-copied file
# would be read half. The metrics are therefore copied to a hidden temporary name in the same
# directory (".dccscan.prom.<pid>.tmp": not *.prom, so never read) and renamed over
# COLLECTOR_FILE: rename(2) within one filesystem is atomic, a scrape sees the old file or the
# new one. Each night's OUT_DIR is a new folder; metrics.prom is published only when this scan
# wrote it. When the scan wrote none (exit 2 bad input, 4 lock busy), the previous file stays and
# its dccscan_scan_start_timestamp_seconds ages until the DccscanScanMissing alert fires.
# The exit code is the scan's (0, 1, 2, 3 or 4), or 5 when the metrics could not be published.
# DCCSCAN names the dccscan executable (default: dccscan on PATH).
set -u
if [ "$#" -lt 2 ]; then
    echo "usage: $0 COLLECTOR_FILE OUT_DIR [dccscan scan options...]" >&2
    exit 2
fi
collector_file=$1
out_dir=$2
shift 2
case $collector_file in
    *.prom) ;;
    *) echo "$0: $collector_file: node_exporter reads only *.prom files" >&2; exit 2 ;;
esac

"${DCCSCAN:-dccscan}" scan "$@" --out "$out_dir" --format json,html,prometheus
status=$?

if [ -f "$out_dir/metrics.prom" ]; then
    temp="$(dirname "$collector_file")/.$(basename "$collector_file").$$.tmp"
    if cp "$out_dir/metrics.prom" "$temp" && chmod 0644 "$temp" && mv -f "$temp" "$collector_file"; then
        :
    else
        rm -f "$temp"
        echo "$0: could not publish $out_dir/metrics.prom as $collector_file" >&2
        [ "$status" -eq 0 ] && status=5
    fi
fi
exit "$status"

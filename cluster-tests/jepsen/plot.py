"""Latency and throughput over time, with fault windows shaded (gnuplot).

Top panel: the latency of every operation (log scale), by outcome.
Bottom panel: completed operations per second, by outcome.
Fault windows are shaded rectangles, one colour per nemesis, named on top.
"""

import os
import shutil
import subprocess

COLORS = ["#f4cccc", "#cfe2f3", "#d9ead3", "#fff2cc", "#ead1dc", "#d0e0e3",
          "#fce5cd", "#d9d2e9", "#eeeeee"]


def plot(history_ops, faults, out_png, title):
    """Returns the path of the PNG, or None (with the reason) if gnuplot is
    missing or failed. The .gp script and .dat files stay beside it."""
    if not shutil.which("gnuplot"):
        return None, "gnuplot is not installed (Debian package gnuplot-nox)"
    base = os.path.splitext(out_png)[0]
    end = max([o["complete"] for o in history_ops] + [f["end"] for f in faults] + [1.0])
    files = {}
    # Auth probes are expected to be refused: plotted apart, not as failures.
    probes = [o for o in history_ops if o["f"] == "probe"]
    history_ops = [o for o in history_ops if o["f"] != "probe"]
    files["probe"] = "%s-latency-probe.dat" % base
    with open(files["probe"], "w") as f:
        for o in probes:
            f.write("%.3f %.3f\n" % (o["invoke"], max(0.1, 1000 * (o["complete"] - o["invoke"]))))
    for outcome in ("ok", "fail", "unknown"):
        path = "%s-latency-%s.dat" % (base, outcome)
        with open(path, "w") as f:
            for o in history_ops:
                if o["outcome"] == outcome:
                    f.write("%.3f %.3f\n" % (o["invoke"],
                                             max(0.1, 1000 * (o["complete"] - o["invoke"]))))
        files[outcome] = path
    buckets = int(end) + 1
    counts = {k: [0] * buckets for k in ("ok", "fail", "unknown", "probe")}
    for o in history_ops:
        counts[o["outcome"]][min(buckets - 1, int(o["complete"]))] += 1
    for o in probes:
        counts["probe"][min(buckets - 1, int(o["complete"]))] += 1
    tput = base + "-throughput.dat"
    with open(tput, "w") as f:
        for s in range(buckets):
            f.write("%d %d %d %d %d\n" % (s, counts["ok"][s], counts["fail"][s],
                                          counts["unknown"][s], counts["probe"][s]))
    names = sorted({x["nemesis"] for x in faults})
    color = {n: COLORS[i % len(COLORS)] for i, n in enumerate(names)}
    rects = []
    for i, x in enumerate(faults):
        rects.append('set object %d rect from %.3f, graph 0 to %.3f, graph 1 '
                     'behind fillcolor rgb "%s" fillstyle solid 0.8 noborder'
                     % (i + 1, x["start"], max(x["end"], x["start"] + 0.05),
                        color[x["nemesis"]]))
    legend = ", ".join(names) if names else "no faults"
    script = """
set terminal png size 1400,900
set output '{out}'
set multiplot layout 2,1 title "{title}\\nshaded: fault windows ({legend})"
set xrange [0:{end:.1f}]
set grid
{rects}
set ylabel 'latency (ms)'
set logscale y
set key outside right
plot '{probe}' using 1:2 with points pt 7 ps 0.2 lc rgb '#b0b0b0' title 'auth probes', \\
     '{ok}' using 1:2 with points pt 7 ps 0.3 lc rgb '#1c7c1c' title 'ok', \\
     '{fail}' using 1:2 with points pt 7 ps 0.4 lc rgb '#cc0000' title 'fail', \\
     '{unknown}' using 1:2 with points pt 7 ps 0.4 lc rgb '#e69138' title 'unknown'
unset logscale y
set ylabel 'ops/s (completed)'
set xlabel 'seconds since start'
plot '{tput}' using 1:2 with steps lw 2 lc rgb '#1c7c1c' title 'ok', \\
     '{tput}' using 1:3 with steps lw 2 lc rgb '#cc0000' title 'fail', \\
     '{tput}' using 1:4 with steps lw 2 lc rgb '#e69138' title 'unknown', \\
     '{tput}' using 1:5 with steps lw 1 lc rgb '#b0b0b0' title 'auth probes'
unset multiplot
""".format(out=out_png, title=title.replace('"', "'"), legend=legend, end=end,
           rects="\n".join(rects), ok=files["ok"], fail=files["fail"],
           unknown=files["unknown"], probe=files["probe"], tput=tput)
    gp = base + ".gp"
    with open(gp, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(out_png):
        return None, "gnuplot failed: " + r.stderr[-500:]
    return out_png, None

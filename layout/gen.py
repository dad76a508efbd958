#!/usr/bin/env python3
"""The resident code layout of the release build (standard library only).

    gen.py write BINARY OUT.ld CALLGRIND.OUT...   write the linker script
    gen.py check BINARY LIST.ld                    is the script current for BINARY?

`write` reads callgrind profiles recorded with --dump-instr=yes (layout/profile.sh),
maps every instruction executed in BINARY to the function holding it (its symbol
table, `nm`), and writes a linker script that gathers the input sections of those
functions into one output section, `.text.resident`, placed before `.text`. The
kernel maps a program's code in 64 KiB windows around each page touched, so code run
in normal operation spread over the whole `.text` makes nearly all of it resident;
gathered, it takes the windows it fills.

A function's section is `.text.NAME`, or `.text.unlikely.NAME` (and so on) when the
compiler judged it cold, hence two patterns a function, `.text.NAME .text.*.NAME`. A Rust symbol's
trailing hash (`17h` and 16 hex digits, legacy mangling) changes when the code around
it does, so it is matched by `?` when few functions share the name up to the hash (a
function, its closures, a few instances): a rebuild after a change still places them.
An instance of a generic function used all over keeps its hash, so that its many
other instances are not placed too. The functions of the first profile
come first, then those only later profiles ran: a daemon that has started but not run
a task yet touches the first part only.

`check` fails (exit 1) when fewer than CHECK_MIN of the script's patterns match a
function of BINARY, that is when the code has moved on and the script should be
written again, or when BINARY has no `.text.resident` section at all.
"""
import bisect
import re
import subprocess
import sys
from collections import Counter
from fnmatch import fnmatchcase

# A new compiler changes the hashes of the generic instances named exactly (about one
# name in eight): the check passes then, and the layout is written again at leisure.
CHECK_MIN = 0.80
# Fewer distinct instructions than this in a profile: the daemon did not start.
MIN_INSTRUCTIONS = 20_000
# Names shared by at most this many functions are matched without their hashes.
GLOB_MAX = 4
HASH = re.compile(r"17h[0-9a-f]{16}E$")
# A crate disambiguator in a v0-mangled name (the standard library's): changes with
# every compiler release.
CRATE = re.compile(r"Cs[0-9A-Za-z]+_")
# A numeric suffix that tells apart local functions of one name.
SUFFIX = re.compile(r"(\.[0-9]+)+$")
OUTPUT_SECTION = ".text.resident"


def functions(binary):
    """(start, size, name) of every function symbol, sorted by address."""
    out = subprocess.run(["nm", "--defined-only", "-n", "-S", binary],
                         check=True, capture_output=True, text=True).stdout
    syms = []
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tTwW":
            syms.append((int(p[0], 16), int(p[1], 16), p[3]))
    return syms


def executed(profile, binary_name):
    """Addresses of the instructions a callgrind profile saw executed in the binary."""
    names, cur, last, addrs = {}, None, 0, set()
    pos = re.compile(r"^(0x[0-9a-f]+|\+\d+|-\d+|\*)\s")
    for line in open(profile, errors="replace"):
        if line.startswith(("ob=", "cob=")):
            m = re.match(r"^c?ob=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                if line.startswith("ob="):
                    cur = m.group(1)
            continue
        if line.startswith("calls="):
            continue
        m = pos.match(line)
        if not m:
            continue
        t = m.group(1)
        if t.startswith("0x"):
            a = int(t, 16)
        elif t[0] in "+-":
            a = last + int(t)
        else:
            a = last
        last = a
        if names.get(cur, "").endswith("/" + binary_name):
            addrs.add(a)
    return addrs


def pattern(name, stems):
    """The input section patterns of a function (`.text.NAME` and `.text.PREFIX.NAME`):
    its hash matched by `?` when at most GLOB_MAX functions of the binary share its name
    up to the hash (the closures of one function, a few instances), else its exact name
    (one instance of a generic function used all over, not all of them); a crate
    disambiguator of the standard library's names and a numeric suffix (`.123`) by `*`."""
    name, suffix = split_suffix(name)
    stem = HASH.sub("", name)
    if stem != name and stems[stem] <= GLOB_MAX:
        name = stem + "17h" + "?" * 16 + "E"
    name = CRATE.sub("Cs*_", name) + (".*" if suffix else "")
    return f".text.{name} .text.*.{name}"


def split_suffix(name):
    """A name and its numeric suffix ("" if none)."""
    m = SUFFIX.search(name)
    return (name[:m.start()], m.group()) if m else (name, "")


def stem_of(name):
    """A name without its numeric suffix and hash: what instances of it share."""
    return HASH.sub("", split_suffix(name)[0])


def write(binary, out_path, profiles):
    syms = functions(binary)
    starts = [s[0] for s in syms]
    stems = Counter(stem_of(n) for _, _, n in syms)
    base = binary.rsplit("/", 1)[-1]
    groups, placed, seen = [], set(), 0
    for prof in profiles:
        addrs = executed(prof, base)
        if len(addrs) < MIN_INSTRUCTIONS:
            sys.exit(f"gen.py: {prof} saw only {len(addrs)} instructions of {base}: "
                     "the daemon did not run as profiled (see its log)")
        seen += len(addrs)
        hot = set()
        for a in addrs:
            i = bisect.bisect_right(starts, a) - 1
            if i >= 0 and syms[i][0] <= a < syms[i][0] + syms[i][1]:
                hot.add(syms[i][2])
        groups.append((prof, sorted(hot - placed)))
        placed |= hot
    size = sum(z for _, z, n in syms if n in placed)
    with open(out_path, "w") as f:
        f.write("/* The functions cronwheel runs in normal operation, gathered before .text so\n")
        f.write("   that their code stays in few pages: first those of the first profile, then\n")
        f.write("   those only later profiles ran. Written by layout/gen.py from the profiles\n")
        f.write("   of layout/profile.sh; see layout/README.md. */\n")
        f.write("SECTIONS\n{\n")
        f.write(f"  {OUTPUT_SECTION} :\n  {{\n")
        written = set()
        for prof, names in groups:
            f.write(f"    /* {len(names)} first run in {prof.rsplit('/', 1)[-1]} */\n")
            for n in names:
                p = pattern(n, stems)
                if p not in written:
                    written.add(p)
                    f.write(f"    *({p})\n")
        f.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"gen.py: {len(placed)} functions ({size // 1024} KiB of code) from "
          f"{seen} executed instructions; wrote {out_path}")


def check(binary, script):
    # The first pattern of each line, without its '.text.' prefix, against the names.
    pats = re.findall(r"^\s*\*\(\.text\.(\S+) [^)]*\)\s*$", open(script).read(), re.M)
    if not pats:
        sys.exit(f"gen.py: no patterns in {script}")
    sections = subprocess.run(["readelf", "-SW", binary], check=True,
                              capture_output=True, text=True).stdout
    if OUTPUT_SECTION not in sections:
        print(f"gen.py: {binary} has no {OUTPUT_SECTION} section: the release build did "
              f"not use {script}", file=sys.stderr)
        return 1
    names = sorted({n for _, _, n in functions(binary)})
    matched = 0
    for p in pats:
        # Only the names that start with the pattern's literal head can match it.
        head = re.split(r"[*?\[]", p, maxsplit=1)[0]
        i = bisect.bisect_left(names, head)
        while i < len(names) and names[i].startswith(head):
            if fnmatchcase(names[i], p):
                matched += 1
                break
            i += 1
    share = matched / len(pats)
    print(f"gen.py: {matched} of {len(pats)} listed functions ({share:.1%}) are in {binary}")
    if share < CHECK_MIN:
        print(f"gen.py: below {CHECK_MIN:.0%}: the code has moved on; write the layout "
              f"again with layout/profile.sh", file=sys.stderr)
        return 1
    return 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "write":
        write(argv[2], argv[3], argv[4:])
        return 0
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

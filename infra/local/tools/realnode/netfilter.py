#!/usr/bin/env python3
"""The real node's netfilter bookkeeping (infra/local/parts/realnode.sh): what it found, and
removing only what was made since.

  netfilter.py snapshot DIR
      Keeps the machine's iptables and ip6tables rules (iptables-save, every table) and its
      ipset names in DIR, before anything of the real node changes them.
  netfilter.py remove-new DIR [--chain-prefix P]... [--ipset-prefix P]...
      Removes what is there now and was not in DIR: chains (flushed, then deleted), rules added
      to chains that were there (each deleted by its own spec), ipsets (destroyed). With
      prefixes, only chains and ipsets whose names start with one of them, and the rules that
      jump to those chains (how the NetworkPolicy enforcer alone is stopped). A chain, rule or
      set that was there before stays, whatever its name: the kubelet's KUBE-FIREWALL of another
      Kubernetes on the machine, say.
  netfilter.py diff DIR
      Prints what differs from DIR (+ made since, - gone since); exits 1 when anything does.

Rules are compared as iptables-save prints them (without counters).
"""
import argparse
import collections
import os
import shlex
import subprocess
import sys

FAMILIES = {"ip4": ("iptables", "iptables-save", "iptables-restore"),
            "ip6": ("ip6tables", "ip6tables-save", "ip6tables-restore")}


def have(binary):
    return any(os.access(os.path.join(d, binary), os.X_OK) for d in os.environ.get("PATH", "").split(":") if d)


def run(args, check=True, data=None):
    return subprocess.run(args, input=data, capture_output=True, text=True, check=check)


def save(family):
    _, saver, _ = FAMILIES[family]
    if not have(saver):
        return ""
    return run([saver]).stdout


def parse(text):
    """{table: (user chains in order, [rules])} from iptables-save output."""
    tables = collections.OrderedDict()
    table = None
    for line in text.splitlines():
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:]
            tables[table] = ([], [])
        elif line == "COMMIT":
            table = None
        elif table and line.startswith(":"):
            name, policy = line[1:].split()[:2]
            if policy == "-":  # a user chain; built-in ones (with a policy) come with the table
                tables[table][0].append(name)
        elif table and line.startswith("-A "):
            tables[table][1].append(line)
    return tables


def ipsets():
    if not have("ipset"):
        return []
    out = run(["ipset", "list", "-n"], check=False)
    return sorted(set(out.stdout.split())) if out.returncode == 0 else []


def rule_chain(rule):
    return rule.split()[1]


def rule_target(rule):
    words = shlex.split(rule)
    for flag in ("-j", "-g"):
        if flag in words and words.index(flag) + 1 < len(words):
            return words[words.index(flag) + 1]
    return None


def snapshot(d):
    os.makedirs(d, exist_ok=True)
    for family in FAMILIES:
        with open(os.path.join(d, family + ".rules"), "w") as f:
            f.write(save(family))
    with open(os.path.join(d, "ipsets"), "w") as f:
        f.write("\n".join(ipsets()) + "\n")


def load(d):
    before = {}
    for family in FAMILIES:
        path = os.path.join(d, family + ".rules")
        before[family] = parse(open(path).read()) if os.path.exists(path) else {}
    path = os.path.join(d, "ipsets")
    sets = open(path).read().split() if os.path.exists(path) else []
    return before, sets


def changes(before_tables, now_tables):
    """Per table: (new chains, rules new in chains that were there, chains gone, rules gone)."""
    out = {}
    for table in set(before_tables) | set(now_tables):
        b_chains, b_rules = before_tables.get(table, ([], []))
        n_chains, n_rules = now_tables.get(table, ([], []))
        new_chains = [c for c in n_chains if c not in b_chains]
        gone_chains = [c for c in b_chains if c not in n_chains]
        left = collections.Counter(b_rules)
        new_rules = []
        for r in n_rules:
            if left[r] > 0:
                left[r] -= 1
            else:
                new_rules.append(r)
        gone_rules = list(left.elements())
        out[table] = (new_chains, new_rules, gone_chains, gone_rules)
    return out


def remove_new(d, chain_prefixes, ipset_prefixes):
    before, before_sets = load(d)
    failures = []
    for family, (cmd, _, restorer) in FAMILIES.items():
        if not have(cmd):
            continue
        now = parse(save(family))
        for table, (new_chains, new_rules, _, _) in changes(before[family], now).items():
            if table not in now:
                continue
            if chain_prefixes:
                new_chains = [c for c in new_chains if c.startswith(tuple(chain_prefixes))]
            doomed = set(new_chains)
            # Rules in chains that stay: all the new ones, or (with prefixes) the jumps to a
            # chain that goes. Deleted last first, so equal rules go in the right order.
            for rule in reversed(new_rules):
                if rule_chain(rule) in doomed:
                    continue  # flushed with its chain
                if chain_prefixes and rule_target(rule) not in doomed:
                    continue
                words = shlex.split(rule)
                words[0] = "-D"
                res = run([cmd, "-w", "-t", table] + words, check=False)
                if res.returncode != 0:
                    failures.append(f"{cmd} -t {table} {' '.join(words)}: {res.stderr.strip()}")
            if not new_chains:
                continue
            # Flush every chain first (they may jump to each other), then delete: one
            # iptables-restore per table, or chain by chain if that fails.
            script = "*%s\n%s%sCOMMIT\n" % (table, "".join("-F %s\n" % c for c in new_chains),
                                             "".join("-X %s\n" % c for c in new_chains))
            if run([restorer, "-w", "--noflush"], check=False, data=script).returncode != 0:
                for c in new_chains:
                    run([cmd, "-w", "-t", table, "-F", c], check=False)
                for c in new_chains:
                    res = run([cmd, "-w", "-t", table, "-X", c], check=False)
                    if res.returncode != 0:
                        failures.append(f"{cmd} -t {table} -X {c}: {res.stderr.strip()}")
    for name in ipsets():
        if name in before_sets or (ipset_prefixes and not name.startswith(tuple(ipset_prefixes))):
            continue
        res = run(["ipset", "destroy", name], check=False)
        if res.returncode != 0:
            failures.append(f"ipset destroy {name}: {res.stderr.strip()}")
    for f in failures:
        print("netfilter: " + f, file=sys.stderr)
    return 1 if failures else 0


def diff(d):
    before, before_sets = load(d)
    lines = []
    for family in FAMILIES:
        for table, (new_chains, new_rules, gone_chains, gone_rules) in sorted(changes(before[family], parse(save(family))).items()):
            lines += [f"+ {family} {table} chain {c}" for c in new_chains]
            lines += [f"- {family} {table} chain {c}" for c in gone_chains]
            lines += [f"+ {family} {table} {r}" for r in new_rules]
            lines += [f"- {family} {table} {r}" for r in gone_rules]
    now_sets = ipsets()
    lines += [f"+ ipset {s}" for s in now_sets if s not in before_sets]
    lines += [f"- ipset {s}" for s in before_sets if s not in now_sets]
    print("\n".join(lines))
    return 1 if lines else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["snapshot", "remove-new", "diff"])
    p.add_argument("dir")
    p.add_argument("--chain-prefix", action="append", default=[])
    p.add_argument("--ipset-prefix", action="append", default=[])
    a = p.parse_args()
    if a.command == "snapshot":
        snapshot(a.dir)
        return 0
    if a.command == "remove-new":
        return remove_new(a.dir, a.chain_prefix, a.ipset_prefix)
    return diff(a.dir)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Lists the crates compiled into a package's binary, with version and SPDX licence, for the
package's /usr/share/doc/<pkg>/third-party-crates.txt (its copyright file points there).

    cargo metadata --format-version 1 --filter-platform TRIPLE | third_party_crates.py PKG OUT

Follows normal dependencies only (build scripts and proc macros run on the build machine and are
not shipped), with the features cargo resolved for the workspace."""
import json
import sys


def main():
    root_name, out = sys.argv[1], sys.argv[2]
    meta = json.load(sys.stdin)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p["id"] for p in meta["packages"] if p["name"] == root_name and p["source"] is None)
    seen, todo = set(), [root]
    while todo:
        node = nodes[todo.pop()]
        for dep in node["deps"]:
            normal = any(k["kind"] is None for k in dep["dep_kinds"])
            target = packages[dep["pkg"]]
            proc_macro = any("proc-macro" in t["kind"] for t in target["targets"])
            if normal and not proc_macro and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    rows = sorted((packages[i]["name"], packages[i]["version"], packages[i].get("license") or "see crate",
                   packages[i].get("repository") or "") for i in seen if packages[i]["source"] is not None)
    missing = [r[0] for r in rows if r[2] == "see crate"]
    with open(out, "w") as f:
        f.write(f"Rust crates compiled into {root_name} (name, version, SPDX licence, source).\n")
        f.write("Each crate's full licence text is in its source package on crates.io.\n\n")
        for name, version, licence, repo in rows:
            f.write(f"{name} {version}\t{licence}\t{repo}\n")
    print(f"{len(rows)} crates{'; without an SPDX licence: ' + ', '.join(missing) if missing else ''}",
          file=sys.stderr)


if __name__ == "__main__":
    main()

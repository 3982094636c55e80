#!/usr/bin/env python3
"""public_routes.py SPEC.yaml OUT.hpp: every public (method, path) of docs/openapi.yaml and
the service that answers it (its `x-storefleet-service`), as a C++ table. Each service takes
the whole table, so a method that the front door sends to one service for a path another
service serves still gets 405 with the path's full Allow header (see libs/http server.hpp)."""
import re
import sys

import yaml

SERVICES = {"intake", "query", "stream"}
METHODS = ("get", "post", "put", "patch", "delete")

spec_path, out_path = sys.argv[1], sys.argv[2]
with open(spec_path, encoding="utf-8") as f:
    spec = yaml.safe_load(f)
rows = []
for path, item in spec.get("paths", {}).items():
    for method in METHODS:
        operation = item.get(method)
        if operation is None:
            continue
        service = operation.get("x-storefleet-service")
        if service not in SERVICES:
            sys.exit(f"{spec_path}: {method.upper()} {path} needs x-storefleet-service, one of {sorted(SERVICES)}")
        pattern = re.sub(r"\{([A-Za-z0-9_]+)\}", r":\1", path)
        rows.append((method.upper(), pattern, service))
if not rows:
    sys.exit(f"{spec_path}: no paths")
with open(out_path, "w", encoding="utf-8") as f:
    f.write("// Generated from docs/openapi.yaml by cmake/public_routes.py. Do not edit.\n")
    f.write("#pragma once\n\n#include \"storefleet/http/server.hpp\"\n\nnamespace storefleet::http {\n")
    f.write("inline const std::vector<PublicRoute>& PublicApiRoutes() {\n")
    f.write("    static const std::vector<PublicRoute> routes = {\n")
    for method, pattern, service in rows:
        f.write(f'        {{"{method}", "{pattern}", "{service}"}},\n')
    f.write("    };\n    return routes;\n}\n}  // namespace storefleet::http\n")

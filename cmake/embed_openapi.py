#!/usr/bin/env python3
"""embed_openapi.py SPEC.yaml OUT.hpp: the OpenAPI document as compact JSON in a C++ header,
so the query service serves exactly the file in docs/ (and the build fails on bad YAML)."""
import json
import sys

import yaml

spec_path, out_path = sys.argv[1], sys.argv[2]
with open(spec_path, encoding="utf-8") as f:
    spec = yaml.safe_load(f)
if spec.get("openapi", "").split(".")[0:2] != ["3", "1"]:
    sys.exit(f"{spec_path}: expected an OpenAPI 3.1 document")
text = json.dumps(spec, separators=(",", ":"), ensure_ascii=False)
delimiter = "OPENAPI_JSON"
if ")" + delimiter in text:
    sys.exit("the document contains the raw string delimiter")
with open(out_path, "w", encoding="utf-8") as f:
    f.write("// Generated from docs/openapi.yaml by cmake/embed_openapi.py. Do not edit.\n")
    f.write("#pragma once\n\nnamespace storefleet::query {\n")
    f.write(f'inline constexpr const char* kOpenApiJson = R"{delimiter}({text}){delimiter}";\n')
    f.write("}  // namespace storefleet::query\n")

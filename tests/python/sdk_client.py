"""Drive `codesage mcp` with the official Python MCP SDK (the `mcp` package on PyPI).

Usage: sdk_client.py CODESAGE_BIN ROOT PATTERN

Connects over stdio, lists the tools, indexes ROOT and searches it for PATTERN, then calls
every tool (the SDK checks each answer's structuredContent against the tool's outputSchema, and
so does this script, with jsonschema), then prints one JSON object with what it saw, for the
Rust test to check.
"""

import asyncio
import json
import os
import subprocess
import sys

import jsonschema

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def result_json(result):
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    text = next(block["text"] for block in dumped["content"] if block.get("type") == "text")
    return dumped, json.loads(text)


async def main(codesage_bin, root, pattern):
    env = {key: value for key, value in os.environ.items() if key.startswith("CODESAGE_")}
    server = StdioServerParameters(command=codesage_bin, args=["mcp"], env=env)
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            indexed = await session.call_tool("index_codebase", {"path": root})
            found = await session.call_tool(
                "search_codebase", {"codebase_path": root, "pattern": pattern}
            )
            bad = await session.call_tool(
                "search_codebase", {"codebase_path": root, "pattern": "("}
            )
            schemas = {tool.name: tool.output_schema for tool in tools.tools}
            calls = [
                ("index_codebase", {"path": root}),
                ("search_codebase", {"codebase_path": root, "pattern": pattern}),
                ("search_codebase", {"codebase_path": root, "pattern": ".", "max_results": 1}),
                ("search_codebase", {"codebase_path": root, "pattern": "handle", "search_mode": "graph"}),
                ("search_codebase", {"codebase_path": root, "pattern": "handle a request", "search_mode": "semantic"}),
                ("semantic_search_codebase", {"codebase_path": root, "query": "handle a request", "top_k": 3}),
                ("read_code_file", {"file_path": os.path.join(root, "app/service.py")}),
                ("read_code_file", {"file_path": os.path.join(root, "app/service.py"), "symbol": "handle_request"}),
                ("count_lines_of_code", {"codebase_path": root}),
                ("get_file_structure", {"file_path": os.path.join(root, "app/service.py")}),
                ("find_symbol", {"name": "handle", "codebase_path": root}),
                ("find_references", {"symbol": "handle_request", "codebase_path": root}),
                ("list_undocumented_functions", {"codebase_path": root}),
                ("analyze_function_dependencies", {"file_path": os.path.join(root, "app/service.py")}),
                ("get_dependencies_overview", {"codebase_path": root}),
                ("find_duplicate_code", {"codebase_path": root, "min_lines": 3}),
                ("analyze_codebase_improvements", {"codebase_path": root}),
                ("list_todo_fixme", {"codebase_path": root}),
                ("get_configuration", {}),
                ("get_performance_metrics", {"max_tokens": 400}),
            ]
            validated = []

            async def call_and_validate(name, arguments):
                result = await session.call_tool(name, arguments)
                if result.is_error:
                    raise SystemExit(f"{name}({arguments}) failed: {result.content}")
                if result.structured_content is None:
                    raise SystemExit(f"{name} returned no structuredContent")
                jsonschema.validate(result.structured_content, schemas[name])
                validated.append(name)

            for name, arguments in calls:
                await call_and_validate(name, arguments)
            # The LLM tools (offline here: no model is configured), on a file written after
            # indexing, which the live index picks up.
            notes = os.path.join(root, "app/notes.py")
            with open(notes, "w") as handle:
                handle.write("def later(x):\n    # TODO: handle negative x\n    return x\n")
            service = os.path.join(root, "app/service.py")
            llm_calls = [
                ("summarize_code_section", {"file_path": service, "function_name": "handle_request"}),
                ("suggest_code_improvements", {"file_path": service}),
                ("generate_unit_tests", {"file_path": service, "function_name": "handle_request"}),
                ("auto_document", {"file_path": notes}),
                ("resolve_todo_fixme", {"file_path": notes}),
                ("get_cache_statistics", {}),
            ]
            for name, arguments in llm_calls:
                await call_and_validate(name, arguments)
            # The change tools, on the project made a git repository with one commit and then
            # changed: a function modified, one added.
            git = ["git", "-c", "user.name=sdk", "-c", "user.email=sdk@example.com",
                   "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
            git_env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
            for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
                subprocess.run(git + args, cwd=root, env=git_env, check=True)
            with open(service, "a") as handle:
                handle.write("\n\ndef added_later(value):\n    return handle_request(value)\n")
            with open(notes, "w") as handle:
                handle.write("def later(x):\n    return -x\n")
            change_calls = [
                ("changed_symbols", {"codebase_path": root}),
                ("affected_callers", {"codebase_path": root, "depth": 2}),
                ("review_changes", {"codebase_path": root}),
            ]
            for name, arguments in change_calls:
                await call_and_validate(name, arguments)
            _, indexed_json = result_json(indexed)
            found_dump, found_json = result_json(found)
            bad_dump = bad.model_dump(by_alias=True, mode="json", exclude_none=True)
            print(
                json.dumps(
                    {
                        "protocol_version": init.protocol_version,
                        "server_name": init.server_info.name,
                        "tools": sorted(tool.name for tool in tools.tools),
                        "indexed_files": indexed_json["files"],
                        "search": found_json,
                        "search_is_error": found_dump.get("isError", False),
                        "bad_is_error": bad_dump.get("isError", False),
                        "bad_text": bad_dump["content"][0]["text"],
                        "validated": sorted(set(validated)),
                        "with_output_schema": sorted(
                            name for name, schema in schemas.items() if schema
                        ),
                    }
                )
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))

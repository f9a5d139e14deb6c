"""Drive `codesage mcp` with the official Python MCP SDK (the `mcp` package on PyPI).

Usage: sdk_client.py CODESAGE_BIN ROOT PATTERN

Connects over stdio, lists the tools, indexes ROOT and searches it for PATTERN, then prints
one JSON object with what it saw, for the Rust test to check.
"""

import asyncio
import json
import os
import sys

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
                    }
                )
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))

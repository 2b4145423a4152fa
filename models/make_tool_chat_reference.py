#!/usr/bin/env python3
"""Chat prompts with tools as transformers renders them, for ``tests/tools_tiny.rs``.

Writes ``tests/data/tool_chat_reference.json``: for each case the template file, the
messages, the tools, ``add_generation_prompt`` and the text of transformers'
``apply_chat_template(messages, tools=tools, chat_template=..., tokenize=False)``.
The cases offer ``examples/tools.json`` to Qwen2.5's own template
(``tests/data/chat_templates/qwen2.5.jinja``, verbatim from Qwen2.5-Coder-0.5B-Instruct's
``tokenizer_config.json``), carry an assistant turn with tool calls and the tools'
results (``role: tool``), and exercise transformers' ``tojson`` options (indent,
separators, sort_keys, ensure_ascii) with a small template of our own.

Remake (a venv with transformers; no model weights, no network)::

    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install transformers
    /tmp/refvenv/bin/python models/make_tool_chat_reference.py
"""

import json
from pathlib import Path

from transformers import PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "tests/data/chat_templates"
OUT = ROOT / "tests/data/tool_chat_reference.json"

TOOLS = json.loads((ROOT / "examples/tools.json").read_text())

# Every tojson option transformers' filter takes, and text a HTML-escaping filter would change.
VARIANTS = (
    "{{ tools | tojson }}\n{{ tools | tojson(indent=4) }}\n{{ tools[0] | tojson(indent=2, sort_keys=true) }}\n"
    "{{ messages | tojson(separators=(',', ':')) }}\n{{ messages | tojson(ensure_ascii=true) }}\n"
    "{{ {'empty': [], 'none': {}, 'n': [1, 2.5, true, none]} | tojson(indent=1) }}\n"
)
(TEMPLATES / "tojson_variants.jinja").write_text(VARIANTS)

FOLLOW_UP = [
    {"role": "user", "content": "Remind me to send the Q3 <budget> & plan to Zoë tomorrow at 9, and find my notes on it."},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": "set_reminder", "arguments": {"text": "Send the Q3 <budget> & plan to Zoë", "time": "2026-12-06T09:00"}}},
            {"type": "function", "function": {"name": "search_notes", "arguments": {"query": "Q3 budget", "limit": 3}}},
        ],
    },
    {"role": "tool", "content": "{\"ok\": true}"},
    {"role": "tool", "content": "[\"Q3 budget draft\", \"Budget review notes\"]"},
]

CASES = [
    ("qwen2.5.jinja", [{"role": "user", "content": "Add a task: review the roadmap by Friday."}], TOOLS, True),
    (
        "qwen2.5.jinja",
        [{"role": "system", "content": "You manage the user's notes."}, {"role": "user", "content": "Find my notes about the offsite."}],
        TOOLS,
        True,
    ),
    ("qwen2.5.jinja", FOLLOW_UP, TOOLS, True),
    ("qwen2.5.jinja", FOLLOW_UP + [{"role": "assistant", "content": "Done: reminder set, two notes found."}], TOOLS, False),
    ("qwen2.5.jinja", [{"role": "user", "content": "No tools <here> & now."}], None, True),
    ("tojson_variants.jinja", FOLLOW_UP[:2], TOOLS, False),
]


def main() -> None:
    # Any fast tokenizer will do: only the template is used.
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(ROOT / "models/tiny/gen-llama/tokenizer.json"))
    cases = []
    for name, messages, tools, add_generation_prompt in CASES:
        template = (TEMPLATES / name).read_text()
        text = tokenizer.apply_chat_template(
            messages, tools=tools, chat_template=template, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        cases.append(
            {"template": name, "messages": messages, "tools": tools, "add_generation_prompt": add_generation_prompt, "text": text}
        )
    OUT.write_text(json.dumps({"made_by": "models/make_tool_chat_reference.py", "cases": cases}, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()

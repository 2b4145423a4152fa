"""Chat templates rendered as transformers' ``apply_chat_template`` renders them: a sandboxed
jinja2 environment with trim_blocks and lstrip_blocks, ``loopcontrols``, ``raise_exception``.
The converter's check and the reference scripts use it to build prompts."""

from __future__ import annotations


def render_chat(template: str, messages: list[dict], add_generation_prompt: bool = True, **context) -> str:
    from jinja2.exceptions import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt, **context)

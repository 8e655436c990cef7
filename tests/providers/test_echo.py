"""The offline echo model as a demo: the prompt's Markdown comes back as a real answer's would."""

from __future__ import annotations

from mmchat_jupyter.providers.echo import EchoProvider
from mmchat_jupyter.render import render_markdown
from mmchat_jupyter.types import GenerationParams, Message
from tests.magic_shell import run

PROMPT = """Plan:

1. Install it:
   ```bash
   pip install mmchat-jupyter
   ```
2. Check $E = mc^2$ and

| tool | cost |
|:-----|-----:|
| echo | $0 |

```python
print("hi")
"""


def test_the_prompt_renders_as_an_answer_not_as_a_quote():
    answer = EchoProvider().answer([Message("user", PROMPT)], GenerationParams())
    html = render_markdown(answer)
    assert "<blockquote>" not in html
    assert '<code class="language-bash" style="background:transparent;padding:0;border:0">' in html and "<ol>" in html
    assert '<th style="text-align:left">tool</th>' in html and 'class="mmchat-math mathjax_process">$E = mc^2$' in html
    # the prompt's unclosed fence is closed, so the echo's own footer stays prose
    assert "offline echo model" in html.rsplit("</code>", 1)[1]


def test_format_code_takes_the_code_of_the_prompt(shell):
    shell.rl_next_input = None
    ran = run(shell, '%%chat -p echo -f code\nWrite it:\n\n```python\ndef f(x):\n    return x\n```')
    assert ran.error is None and 'class="highlight"' in ran.final["text/html"]
    assert shell.rl_next_input == "def f(x):\n    return x"

"""%%chat's footer in a real JupyterLab: an interrupted answer says so in a word every default font has (no symbol
that Debian's fonts lack, which showed as a missing-glyph box), and every part of the footer keeps a WCAG contrast
of at least 4.5:1 in the light and the dark theme, measured on the colours Chromium computes (the text's own alpha
and its ancestors' opacity included).

Screenshots go to $MMCHAT_SCREENSHOTS: chat-footer-light.png, chat-footer-dark.png.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

WORDS = [f"word{n} " for n in range(200)]

#: WCAG contrast of an element's text against what is behind it: the text colour with its alpha times every
#: ancestor's opacity, laid over the backgrounds behind it (composited up to the first opaque one, white if none).
CONTRAST = """(el) => {
  const ctx = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
  const rgba = (color) => { ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = "#000"; ctx.fillStyle = color;
    ctx.fillRect(0, 0, 1, 1); const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data; return [r, g, b, a / 255]; };
  const over = (top, under) => top.slice(0, 3).map((v, i) => v * top[3] + under[i] * (1 - top[3]));
  const layers = [];
  let opacity = 1;
  for (let node = el; node; node = node.parentElement) {
    const style = getComputedStyle(node);
    opacity *= Number(style.opacity);
    const bg = rgba(style.backgroundColor);
    if (bg[3] > 0) layers.push(bg);
    if (bg[3] === 1) break;
  }
  let back = [255, 255, 255];
  for (const layer of layers.reverse()) back = over(layer, back);
  const text = rgba(getComputedStyle(el).color);
  const front = over([...text.slice(0, 3), text[3] * opacity], back);
  const linear = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const luminance = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const [a, b] = [luminance(front), luminance(back)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def test_an_interrupted_answer_says_so_in_a_word_with_contrast_in_light_and_dark(notebook, fake_yandex, shots):
    fake_yandex.script(list(map("".join, zip(*[iter(WORDS)] * 2, strict=True))))
    fake_yandex.tamper(delay=0.1)
    nb = notebook(["%load_ext mmchat_jupyter", "%%chat -p yandexgpt\nCount slowly."], "footer.ipynb")
    nb.run_all(2)
    nb.run(2, wait=False)
    output = nb.cell(2).locator(".jp-OutputArea-output")
    expect(output.first).to_contain_text("word5", timeout=30_000)
    nb.page.evaluate("() => window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
    footer = output.locator(".mmchat-footer")
    expect(footer).to_be_visible(timeout=30_000)
    mark = footer.locator(".mmchat-mark")
    expect(mark).to_have_text("interrupted")
    assert "word199" not in output.inner_text()  # it really was cut short
    assert all(ord(char) < 0x2000 for char in footer.inner_text()), footer.inner_text()  # no symbol fonts lack
    nb.page.mouse.move(0, 0)
    for theme, name in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
        nb.set_theme(theme)
        measured = {"footer": footer.evaluate(CONTRAST), "mark": mark.evaluate(CONTRAST)}
        print(f"{theme}: contrast {measured}")
        footer.screenshot(path=str(shots / f"chat-footer-{name}.png"))
        assert min(measured.values()) >= 4.5, (theme, measured)
    nb.set_theme("JupyterLab Light")

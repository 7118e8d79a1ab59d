"""Course pages from templates: a clip's transcript, the gallery's cards (themes, embed snippets, GIFs),
accessibility rules checked on the markup, and the contrast of every text colour of both page themes and
both clip themes."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from descent.cli.main import cli
from descent.publish.embed import embed_snippets
from descent.publish.gallery import gallery_page, write_gallery
from descent.publish.transcript import clip_transcript_html, clip_transcript_markdown
from descent.trainer import Config, train

QUICK = ["-q", "l", "--fps", "10", "--duration", "1", "--quiet"]
TEMPLATES = Path(__file__).resolve().parents[1] / "descent" / "publish" / "templates"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the stack of open elements at each."""

    VOID = {"source", "track", "img", "input", "meta", "link", "br", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict, tuple[str, ...]]] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs), tuple(self.stack)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass


def tags(page: str) -> list[tuple[str, dict, tuple[str, ...]]]:
    p = Tags()
    p.feed(page)
    p.close()
    return p.tags


def sidecar(traces, scene="fit", **extra) -> dict:
    meta = {"schema": "descent.clip/1", "name": "x", "scene": scene, "files": {"mp4": "x.mp4", "poster": "x.png"}}
    if len(traces) == 1:
        meta["trace"] = json.loads(traces[0].to_json())
    else:
        meta["traces"] = [json.loads(t.to_json()) for t in traces]
    return {**meta, "render": {"scene_options": {}}, **extra}


# -- transcripts -----------------------------------------------------------------------------------
def test_a_rendered_clip_is_published_with_its_transcript(tmp_path):
    out = tmp_path / "o"
    r = CliRunner().invoke(
        cli, ["render", "fit", "--lr", "0.2", "--steps", "14", "--name", "c", "--out-dir", str(out), *QUICK]
    )
    assert r.exit_code == 0, r.output
    assert f"wrote {out / 'c.transcript.html'}" in r.output
    md = (out / "c.transcript.md").read_text()
    trace = train(Config(lr=0.2, steps=14))
    # every step the clip shows, with its loss, the step within 10 % of L*, the start and the end
    for k in range(15):
        assert f"Step {k}: " in md
    assert "Step 0: w = −15, b = −10, loss = 835.8; the start." in md
    assert "Step 12: " in md and re.search(r"Step 12: [^\n]*within 10 % of the lowest possible", md)
    assert "comes within 10 % of L\\* at step 12" in md
    assert "lr/lr\\_max = 0.60" in md and md.rstrip().endswith(
        clip_transcript_markdown(sidecar([trace])).rstrip()[-60:]
    )
    page = (out / "c.transcript.html").read_text()
    assert '<html lang="en">' in page and '<a href="c.mp4">Watch the clip</a>' in page
    assert "<time datetime=" in page and "Step 14: " in page


def test_a_transcript_tells_a_divergence_and_a_comparison():
    wild = train(Config(lr=1.2, steps=12))
    md = clip_transcript_markdown(sidecar([wild]))
    assert f"diverges at step {wild.diverged_at}" in md and "has diverged and stops" in md
    calm = train(Config(lr=0.1, steps=12))
    both = clip_transcript_markdown(sidecar([calm, wild], scene="compare"))
    assert "Learning rate 0.1 (sgd)" in both and "Learning rate 1.2 (sgd)" in both
    assert "Step 3: lr 0.1 loss = " in both


def test_a_comparison_of_optimizers_names_its_runs_as_the_legend_does():
    """Two runs at the same lr (sgd, adam): the captions and the transcript name them sgd and adam (they read
    "lr 0.1 loss = …; lr 0.1 loss = …", two runs with one name)."""
    from descent.publish.captions import vtt_cues

    runs = [train(Config(lr=0.1, steps=4, optimizer=o)) for o in ("sgd", "adam")]
    last = vtt_cues("compare", runs, {"compare_by": "optimizer"})[-1][2]
    assert last == f"Step 4: sgd loss = {runs[0].loss[-1]:.4g}; adam loss = {runs[1].loss[-1]:.4g}"
    meta = sidecar(runs, scene="compare")
    meta["render"]["scene_options"] = {"compare_by": "optimizer"}
    md = clip_transcript_markdown(meta)
    assert "sgd: learning rate 0.1 (sgd)" in md and "adam: learning rate 0.1 (adam)" in md
    assert "Step 4: sgd loss = " in md and "lr 0.1 loss" not in md
    # the clip's script (its narration, the transcript's closing lines) too: not "learning rates 0.1 and 0.1"
    assert "2 runs from w = −15 and b = −10: sgd and adam." in md and "0.1 and 0.1" not in md
    assert f"with sgd the cost is {runs[0].loss[-1]:.4g} and with adam the cost is {runs[1].loss[-1]:.4g}" in md


def test_the_loss_plot_of_an_optimizer_comparison_names_the_optimizers(tmp_path, monkeypatch):
    """The loss plot's legend names each run as the comparison clip does (it said "lr 0.1" for both)."""
    import descent.scenes.compare as compare
    from descent.publish.lossplot import render_loss_plot

    named = []
    real = compare.run_label
    monkeypatch.setattr(compare, "run_label", lambda c, by="lr": named.append(real(c, by)) or named[-1])
    runs = [train(Config(lr=0.1, steps=4, optimizer=o)) for o in ("sgd", "adam")]
    plot = render_loss_plot(runs, tmp_path / "p.png", width=320, by="optimizer")
    assert plot.is_file() and named == ["sgd", "adam"]


def test_a_narrated_clip_transcript_gives_the_spoken_lines_with_their_times():
    t = train(Config(steps=5))
    lines = [
        {"id": "clip.start", "text": "We <start> here.", "start": 0.0, "end": 2.5},
        {"id": "clip.end", "text": "And end.", "start": 61.2, "end": 63.0},
    ]
    page = clip_transcript_html(sidecar([t], narration={"lines": lines}))
    assert '<h2 id="said-title">Narration</h2>' in page
    assert "We &lt;start&gt; here." in page and '<time datetime="PT61.2S">1:01</time> And end.' in page


# -- the gallery -----------------------------------------------------------------------------------
def card(name, lr, theme="dark", **extra):
    files = {k: f"{name}.{e}" for k, e in (("mp4", "mp4"), ("poster", "png"), ("vtt", "vtt"), ("gif", "gif"))}
    files["transcript"] = f"{name}.transcript.html"
    stats = {
        "lr": lr,
        "lr_max": 0.333,
        "lr_ratio": lr / 0.333,
        "near_step": 12,
        "steps": 15,
        "final_loss": 0.01,
        "diverged_at": None,
    }
    return {
        "name": name,
        "title": f"lr = {lr:g}",
        "files": files,
        "width": 854,
        "height": 480,
        "sweep": {"lr": lr, "theme": theme},
        "theme": theme,
        "stats": stats,
        "params": {"learning rate": lr},
        **extra,
    }


def test_the_page_escapes_what_it_is_given_and_links_plain_names_only():
    evil = card("a", 0.1, title="<script>alert(1)</script>", note="<b>x</b>")
    evil["files"]["webm"] = "javascript:alert(1)"
    page = gallery_page([evil], "<i>T</i>", "S & s")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<i>T</i>" not in page and "&lt;i&gt;T&lt;/i&gt;" in page and "javascript:" not in page


def test_light_and_dark_versions_are_one_card_following_the_readers_scheme(tmp_path):
    entries = [card("a_dark", 0.1), card("a_light", 0.1, "light"), card("b_dark", 0.2), card("b_light", 0.2, "light")]
    page = write_gallery(tmp_path, entries, "T", "S", loss_plot={"dark": "p_dark.png", "light": "p_light.png"})
    page = page.read_text()
    found = tags(page)
    articles = [a["id"] for t, a, _ in found if t == "article" and a["id"] != "loss-plot"]
    assert articles == ["a_dark", "b_dark"]  # one card per clip
    videos = [(a["poster"], stack) for t, a, stack in found if t == "video" and "article" in stack]
    assert [p for p, _ in videos] == ["a_dark.png", "a_light.png", "b_dark.png", "b_light.png"]
    wrappers = [a["class"] for t, a, _ in found if t == "div" and "version" in a.get("class", "")]
    assert wrappers[:2] == ["version only-dark", "version only-light"]
    base = (TEMPLATES / "base.html").read_text()
    assert ".only-light{display:none}" in base
    assert "@media (prefers-color-scheme: light){.only-light{display:block}.only-dark{display:none}}" in base
    # the loss plot: a picture whose light source is the light plot
    sources = [a for t, a, stack in found if t == "source" and "picture" in stack]
    assert sources == [{"srcset": "p_light.png", "media": "(prefers-color-scheme: light)"}]
    # the explorer carries both versions of each run
    data = json.loads(re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page).group(1))
    assert [sorted(v["versions"]) for v in data["variants"]] == [["dark", "light"], ["dark", "light"]]


def test_accessibility_rules_in_the_markup(tmp_path):
    entries = [card("a", 0.1), card("b", 0.2, note="Diverged at step 3", voiced=True)]
    page = write_gallery(tmp_path, entries, "T", "S", loss_plot="p.png").read_text()
    found = tags(page)
    assert found[0][0] == "html" and found[0][1]["lang"] == "en"
    assert "autoplay" not in page
    ids = {a["id"] for _, a, _ in found if "id" in a}
    labels = {a["for"] for t, a, _ in found if t == "label"}
    for t, a, _ in found:
        if t == "video":
            assert "controls" in a and "poster" in a and a.get("aria-label"), a
        if t == "track":
            assert a["kind"] == "captions" and a["srclang"] == "en" and a["label"] in ("Steps", "Narration"), a
        if t in ("input", "select"):
            assert a["id"] in labels, a  # every control labelled
        if t == "img":
            assert a.get("alt"), a
    assert {a["for"] for t, a, _ in found if t == "label"} <= ids
    assert 'label="Narration"' in page  # the voiced card
    assert '<video id="explorer-video" controls playsinline' in page  # narrated runs: heard, not muted


def test_embed_snippets_for_every_site():
    files = {
        "mp4": "c.mp4",
        "poster": "c.png",
        "vtt": "c.vtt",
        "webm": "c.webm",
        "gif": "c.gif",
        "transcript": "c.transcript.html",
    }
    snippets = {s["key"]: s for s in embed_snippets(files, "lr = 0.2", width=854, height=480)}
    assert list(snippets) == ["html", "myst", "mkdocs", "jupyter", "lms"]
    found = tags(snippets["html"]["code"])
    video = next(a for t, a, _ in found if t == "video")
    assert video["poster"] == "c.png" and "controls" in video and "autoplay" not in video
    assert [a["src"] for t, a, _ in found if t == "source" and "video" in _] == ["c.webm", "c.mp4"]
    track = next(a for t, a, _ in found if t == "track")
    assert track == {"kind": "captions", "src": "c.vtt", "srclang": "en", "label": "Steps", "default": None}
    # the GIF only in a picture whose reduced-motion source is the still poster
    img = next((a, stack) for t, a, stack in found if t == "img")
    assert img[0]["src"] == "c.gif" and "picture" in img[1]
    reduced = [a for t, a, stack in found if t == "source" and "picture" in stack]
    assert reduced == [{"srcset": "c.png", "media": "(prefers-reduced-motion: reduce)"}]
    for key in ("myst", "mkdocs", "jupyter", "lms"):
        code = snippets[key]["code"]
        assert "c.mp4" in code and "c.vtt" in code and "c.png" in code and "autoplay" not in code, key
        named = re.findall(r'(?:src|href|poster|srcset)="([^"]*)"', code)
        assert named and set(named) <= set(files.values()), key  # paths relative to the published folder
    assert snippets["myst"]["code"].startswith("```{raw} html\n<video ")
    assert snippets["jupyter"]["code"].startswith("from IPython.display import HTML")
    compile(snippets["jupyter"]["code"], "cell", "exec")
    assert "Captions: upload c.vtt" in snippets["lms"]["code"]


@pytest.mark.parametrize("label", ["Use ```code``` here", "ends in a backslash \\", "quotes \"\"\" and '''"])
def test_snippets_survive_a_label_with_backticks_quotes_and_backslashes(label):
    """A clip's title goes into every snippet: the MyST fence stays longer than any run of backticks in it (a
    ``` in the title closed the raw block early), and the Jupyter cell is valid Python giving back the tag."""
    snippets = {s["key"]: s for s in embed_snippets({"mp4": "a.mp4", "poster": "a.png"}, label)}
    lines = snippets["myst"]["code"].split("\n")
    fence = re.match(r"`+", lines[0]).group(0)
    assert lines[0] == fence + "{raw} html" and lines[-1] == fence and len(fence) >= 3
    assert all(fence not in line for line in lines[1:-1])
    namespace = {"HTML": lambda text: text}
    cell = snippets["jupyter"]["code"].replace("from IPython.display import HTML\n", "")
    exec(compile(cell.replace('HTML(r"""', 'shown = HTML(r"""'), "cell", "exec"), namespace)
    assert namespace["shown"].strip() == snippets["mkdocs"]["code"]


def test_the_full_batch_is_named_so_not_none():
    """A sweep over batch_size=full,8: the explorer's choice and the card's title say "full batch" (they said
    "None")."""
    from descent.batch import _swept_text

    entries = [card("f", 0.1, sweep={"batch_size": None}), card("e", 0.1, sweep={"batch_size": 8})]
    page = gallery_page(entries, "T", "S")
    data = json.loads(re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page).group(1))
    assert data["keys"][0]["texts"] == ["full batch", "8"]
    assert re.findall(r'<option value="\d"[^>]*>(.*?)</option>', page) == ["full batch", "8"]
    assert [_swept_text("batch_size", None), _swept_text("batch_size", 8)] == ["full batch", "batch size 8"]
    assert _swept_text("momentum", 0.9) == "momentum = 0.9"


def test_each_card_offers_the_snippets_escaped(tmp_path):
    page = write_gallery(tmp_path, [card("a", 0.1)], "T", "S").read_text()
    assert page.count("<pre data-snippet=") == 5
    assert "&lt;video controls" in page and "<summary>Embed</summary>" in page
    assert '<a href="a.transcript.html">Transcript</a>' in page


def test_a_users_index_html_is_never_replaced(tmp_path):
    """The folder's own index.html (a course's page, a link) stays as it is: the gallery goes to gallery.html,
    rewritten on the next run; a gallery descent wrote is rewritten in place; with both names taken: one error."""
    from descent.outputs.files import RenderError

    mine = b"<!doctype html><h1>My course</h1>"
    (tmp_path / "index.html").write_bytes(mine)
    first = write_gallery(tmp_path, [card("a", 0.1)], "T", "S")
    assert first == tmp_path / "gallery.html" and "a.mp4" in first.read_text()
    assert write_gallery(tmp_path, [card("b", 0.2)], "T", "S") == first and "b.mp4" in first.read_text()
    assert (tmp_path / "index.html").read_bytes() == mine
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "index.html").write_text(gallery_page([card("a", 0.1)], "T", "S"))
    assert write_gallery(ours, [card("b", 0.2)], "T", "S") == ours / "index.html"
    assert "b.mp4" in (ours / "index.html").read_text() and not (ours / "gallery.html").exists()
    (tmp_path / "gallery.html").write_bytes(mine)
    with pytest.raises(RenderError, match="not descent's pages"):
        write_gallery(tmp_path, [card("a", 0.1)], "T", "S")
    assert (tmp_path / "index.html").read_bytes() == mine == (tmp_path / "gallery.html").read_bytes()
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "index.html").symlink_to(tmp_path / "index.html")
    assert write_gallery(linked, [card("a", 0.1)], "T", "S") == linked / "gallery.html"
    assert (linked / "index.html").is_symlink() and (tmp_path / "index.html").read_bytes() == mine


# -- contrast --------------------------------------------------------------------------------------
def luminance(hex_: str) -> float:
    rgb = [int(hex_.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def page_themes() -> dict[str, dict[str, str]]:
    css = (TEMPLATES / "base.html").read_text()
    dark = re.search(r":root\{color-scheme:light dark;(.*?)\}", css, re.S).group(1)
    light = re.search(r"@media \(prefers-color-scheme: light\)\{:root\{(.*?)\}\}", css, re.S).group(1)

    def parse(block: str) -> dict[str, str]:
        return dict(re.findall(r"--([a-z-]+):(#[0-9a-fA-F]{6})", block))

    return {"dark": parse(dark), "light": parse(light)}


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_page_text_colours_meet_4_5_to_1(theme):
    colours = page_themes()[theme]
    assert {"bg", "surface", "text", "muted", "link", "warn", "accent", "on-accent"} <= set(colours)
    pairs = [(fg, bg) for fg in ("text", "muted", "link", "warn") for bg in ("bg", "surface")]
    pairs.append(("on-accent", "accent"))
    for fg, bg in pairs:
        ratio = contrast(colours[fg], colours[bg])
        assert ratio >= 4.5, f"{theme}: --{fg} on --{bg} is {ratio:.2f}:1"


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_clip_text_colours_meet_4_5_to_1(theme):
    from descent.scenes.theme import get_theme

    th = get_theme(theme)
    pairs = [(th.text, th.background), (th.muted, th.background), (th.text, th.panel), (th.muted, th.panel)]
    for fg, bg in [*pairs, (th.warn_text, th.warn)]:  # and the divergence banner
        assert contrast(fg, bg) >= 4.5, f"{theme}: {fg} on {bg} is {contrast(fg, bg):.2f}:1"


def test_a_sweep_over_optimizers_says_what_it_compares(tmp_path):
    """The page's heading names the swept keys, and the comparison card lists the optimizers it compares and
    the learning rate they share (it listed "learning rates 0.1, 0.1" and the first run's optimizer only)."""
    out = tmp_path / "out"
    args = ["batch", "--sweep", "optimizer=sgd,adam", "--lr", "0.1", "--steps", "3", "--jobs", "1"]
    r = CliRunner().invoke(cli, [*args, "--out-dir", str(out), *QUICK])
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    page = (out / "index.html").read_text()
    words = {"optimizer": "optimizers", "lr": "learning rates"}
    assert re.search(r"<h1>(.*?)</h1>", page).group(1) == (
        "Gradient descent: " + " and ".join(words[k] for k in manifest["sweep_keys"]) + " compared"
    )
    compare = manifest["compares"][0]
    card = re.search(rf'<article class="card wide" id="{compare["name"]}".*?</article>', page, re.S).group(0)
    rows = dict(re.findall(r'<tr><th scope="row">(.*?)</th><td>(.*?)</td></tr>', card))
    assert rows == {"optimizers": "sgd, adam", "learning rate": "0.1", "steps": "3"}

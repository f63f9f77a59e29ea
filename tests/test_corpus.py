"""The evaluation corpora's selection rules, on a stand-in for the unpacked Debian package."""

from __future__ import annotations

from PIL import Image

from localrag.evaluation import corpus


def test_kicad_screenshots_keeps_figures_not_icons_and_both_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "CACHE", tmp_path / "cache")
    calls = []

    def unpack(package, into):
        calls.append(package)
        root = into / "x"
        for rel, size in {
            "dialog.png": (640, 480),
            "en/dialog.png": (300, 200),  # same name in the language folder: both kept
            "icons/zoom.png": (24, 24),
            "toolbar.png": (900, 40),  # a strip of buttons, not a figure
        }.items():
            p = root / corpus.KICAD_IMAGES / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", size, "white").save(p)
        return root

    monkeypatch.setattr(corpus, "_unpack", unpack)
    out = corpus.kicad_screenshots()
    assert sorted(p.name for p in out.iterdir()) == ["dialog.png", "en-dialog.png"]
    assert corpus.kicad_screenshots() == out and calls == ["kicad-doc-en"]  # cached
    assert not list(out.parent.glob("*.part"))

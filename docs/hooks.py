"""MkDocs hook: publish the committed figures with the site.

The pages link figures as ``figures/NAME/FILE.png``, the path they have in the repository. The figures stay where
the commands that made them wrote them (``figures/``, outside ``docs/``); this hook adds them to the site's files,
so that ``mkdocs build --strict`` checks every such link and the built site shows the images.
"""

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
KINDS = {".png", ".svg", ".html"}


def on_files(files, config):
    for p in sorted((ROOT / "figures").rglob("*")):
        if p.is_file() and p.suffix in KINDS:
            rel = p.relative_to(ROOT).as_posix()
            files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"], use_directory_urls=config["use_directory_urls"]))
    return files

"""A deterministic set of photos with words printed on them, and what each one says.

Real shared photos (../shared/data/catsdogs) are the backgrounds, scaled to
800×600; on each, one to three short texts are rendered with Pillow at one of
``SIZES`` (the font's pixel size on the 800-pixel-wide photo), in one of the
DejaVu or Liberation fonts found on the machine (Debian: fonts-dejavu-core,
fonts-liberation), in a random colour that contrasts with what is behind it,
plain, outlined or on a plate (a sign), turned by up to ±15°, then saved as
JPEG (quality 90). The same seed gives the same photos and truth, so a change
in read-back is the reader's, not the set's.

``python bench/textphotos.py DIR [--count N] [--seed S]`` writes the photos and
``truth.json`` (used by bench/ocr.py and tests/test_ocr.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageStat

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PICFIND_SHARED", HERE.parents[1] / "shared"))
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "LiberationSans-Regular.ttf",
    "LiberationSerif-Bold.ttf",
    "LiberationMono-Regular.ttf",
    "LiberationSansNarrow-Regular.ttf",
)
SIZES = (10, 14, 20, 28, 40, 56, 80)
STYLES = ("plain", "outline", "plate")
CANVAS = (800, 600)
MAX_ANGLE = 15.0

# Words a photo shows: signs, shops, menus, tickets; accents, digits, times, codes.
WORDS = (  # noqa: SIM905 - a sentence reads better than 77 quoted strings
    "open closed exit entrance gate 23 platform 9 parking hotel bakery pharmacy museum "
    "station airport taxi police hospital library garden market coffee café crème brûlée "
    "pizza pasta menu today special sale 50% discount welcome happy birthday congratulations "
    "summer festival concert tickets 10:30 18:45 2024 A4 B12 room 101 floor 3 north south "
    "street avenue bridge harbour beach ferry über straße señor façade naïve zürich "
    "london paris berlin madrid tokyo lisbon receipt total 12.50 thank you visit again"
).split()


@dataclass(frozen=True)
class Item:
    """One rendered text and how it was rendered."""

    text: str
    size: int
    font: str
    angle: float
    style: str
    bbox: tuple[int, int, int, int]  # of the turned text on the photo, pixels


@dataclass(frozen=True)
class Photo:
    file: str
    background: str
    items: tuple[Item, ...]


def fonts() -> list[Path]:
    """The fonts found; an error naming the Debian packages when there are none."""
    found = [d / f for f in FONT_FILES for d in FONT_DIRS if (d / f).is_file()]
    if not found:
        raise SystemExit("no fonts: apt-get install fonts-dejavu-core fonts-liberation")
    return found


def backgrounds() -> list[Path]:
    folder = SHARED / "data" / "catsdogs"
    found = sorted(folder.glob("*.jpg"))
    if not found:
        raise SystemExit(f"no background photos in {folder} (set PICFIND_SHARED)")
    return found


def generate(folder: Path, count: int = 120, seed: int = 0) -> list[Photo]:
    """Write ``count`` photos and ``truth.json`` into ``folder``; the truth, too."""
    rng = random.Random(seed)
    font_files = fonts()
    photos_in = backgrounds()
    folder.mkdir(parents=True, exist_ok=True)
    photos: list[Photo] = []
    k = 0  # items so far: sizes, fonts and styles are cycled, so every size is well sampled
    for n in range(count):
        background = photos_in[rng.randrange(len(photos_in))]
        canvas = Image.open(background).convert("RGB").resize(CANVAS, Image.Resampling.BICUBIC)
        items: list[Item] = []
        taken: list[tuple[int, int, int, int]] = []
        for _ in range(rng.randint(1, 3)):
            words = rng.sample(WORDS, rng.choice((1, 1, 2)))
            text = " ".join(w.upper() if rng.random() < 0.3 else w for w in words)
            size = SIZES[k % len(SIZES)]
            font = font_files[(k // len(SIZES)) % len(font_files)]
            style = STYLES[(k // 3) % len(STYLES)]
            k += 1
            item = _place(canvas, text, size, font, style, rng, taken)
            if item is not None:
                items.append(item)
                taken.append(item.bbox)
        name = f"text{n:04d}.jpg"
        canvas.save(folder / name, quality=90)
        photos.append(Photo(name, background.name, tuple(items)))
    (folder / "truth.json").write_text(
        json.dumps([asdict(p) for p in photos], indent=1, ensure_ascii=False), encoding="utf-8"
    )
    return photos


def load_truth(folder: Path) -> list[Photo]:
    raw = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return [
        Photo(
            p["file"],
            p["background"],
            tuple(Item(**{**i, "bbox": tuple(i["bbox"])}) for i in p["items"]),
        )
        for p in raw
    ]


def _place(
    canvas: Image.Image,
    text: str,
    size: int,
    font_path: Path,
    style: str,
    rng: random.Random,
    taken: list[tuple[int, int, int, int]],
) -> Item | None:
    font = ImageFont.truetype(str(font_path), size)
    pad = max(2, size // 4)
    x0, y0, x1, y1 = font.getbbox(text)
    w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    angle = round(rng.uniform(-MAX_ANGLE, MAX_ANGLE), 1)
    layer_w, layer_h = _turned_size(w, h, angle)
    if layer_w >= CANVAS[0] or layer_h >= CANVAS[1]:
        return None
    for _ in range(60):  # a free spot for the turned text, else give up on this item
        left = rng.randrange(0, CANVAS[0] - layer_w)
        top = rng.randrange(0, CANVAS[1] - layer_h)
        box = (left, top, left + layer_w, top + layer_h)
        if not any(_overlap(box, t) for t in taken):
            break
    else:
        return None
    behind = ImageStat.Stat(canvas.crop(box).convert("L")).mean[0]
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if style == "plate":
        plate = _colour(rng, dark=behind > 128)
        draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=pad, fill=(*plate, 255))
        ink = _colour(rng, dark=sum(plate) > 3 * 128)
    else:
        ink = _colour(rng, dark=behind > 128)
    stroke = max(1, size // 14) if style == "outline" else 0
    outline = (255, 255, 255) if sum(ink) < 3 * 128 else (0, 0, 0)
    draw.text(
        (pad - x0, pad - y0),
        text,
        font=font,
        fill=(*ink, 255),
        stroke_width=stroke,
        stroke_fill=(*outline, 255),
    )
    turned = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    canvas.paste(turned, box[:2], turned)
    left, top = box[:2]
    return Item(
        text,
        size,
        font_path.name,
        angle,
        style,
        (left, top, left + turned.width, top + turned.height),
    )


def _turned_size(w: int, h: int, angle: float) -> tuple[int, int]:
    probe = Image.new("L", (w, h)).rotate(angle, expand=True)
    return probe.width, probe.height


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _colour(rng: random.Random, *, dark: bool) -> tuple[int, int, int]:
    """A random colour, dark (for light backgrounds) or light (for dark ones)."""
    lo, hi = (0, 90) if dark else (170, 255)
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


# --------------------------------------------------------------------------- documents

RECEIPT = (
    "CAFÉ DU MONDE",
    "12 Harbour Street, Lisbon",
    "2024-05-01  10:30",
    "2 x Espresso         5.00",
    "1 x Croissant        3.20",
    "1 x Orange juice     4.30",
    "TOTAL               12.50",
    "VISA **** 1234",
    "Thank you, come again!",
)

PAGE_TITLE = "Harbour Ferries"
PAGE_NAV = ("Home", "Timetable", "Tickets", "Contact")
PAGE_HEADING = "Summer timetable from Monday"
PAGE_TEXT = (
    "Boats leave the north pier every twenty minutes.",
    "Buy tickets online or at the kiosk by gate 23.",
    "Bicycles travel free before 10:30 on weekdays.",
)
PAGE_BUTTON = "Book now"


def receipt(path: Path, background: Path | None = None) -> list[str]:
    """A photo of a till receipt (paper turned by 3° on a photo), and its lines."""
    font = ImageFont.truetype(str(_font("DejaVuSansMono.ttf")), 22)
    paper = Image.new("RGB", (420, 60 + 40 * len(RECEIPT)), (250, 248, 240))
    draw = ImageDraw.Draw(paper)
    for i, line in enumerate(RECEIPT):
        draw.text((24, 30 + 40 * i), line, font=font, fill=(30, 30, 30))
    turned = paper.convert("RGBA").rotate(3, resample=Image.Resampling.BICUBIC, expand=True)
    table = (
        Image.open(background).convert("RGB").resize((800, 600))
        if background is not None
        else Image.new("RGB", (800, 600), (90, 70, 50))
    )
    table = table.resize((640, 560 + 20 * len(RECEIPT)))
    table.paste(turned, (110, 20), turned)
    table.save(path, quality=92)
    return list(RECEIPT)


def web_page(path: Path) -> list[str]:
    """A web-page-like screenshot drawn with Pillow (1280×800 PNG), and its texts."""
    sans = _font("DejaVuSans.ttf")
    bold = _font("DejaVuSans-Bold.ttf")
    page = Image.new("RGB", (1280, 800), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 1280, 70), fill=(20, 60, 110))
    draw.text((40, 18), PAGE_TITLE, font=ImageFont.truetype(str(bold), 28), fill="white")
    nav = ImageFont.truetype(str(sans), 18)
    for i, item in enumerate(PAGE_NAV):
        draw.text((700 + 130 * i, 26), item, font=nav, fill=(220, 230, 255))
    draw.text((40, 120), PAGE_HEADING, font=ImageFont.truetype(str(bold), 34), fill=(20, 20, 20))
    body = ImageFont.truetype(str(sans), 18)
    for i, line in enumerate(PAGE_TEXT):
        draw.text((40, 200 + 34 * i), line, font=body, fill=(60, 60, 60))
    draw.rounded_rectangle((40, 330, 200, 380), radius=8, fill=(200, 60, 40))
    draw.text((64, 343), PAGE_BUTTON, font=body, fill="white")
    page.save(path)
    return [PAGE_TITLE, *PAGE_NAV, PAGE_HEADING, *PAGE_TEXT, PAGE_BUTTON]


def page_html() -> str:
    """The same page as HTML, for a real browser's screenshot."""
    nav = "".join(f"<a href='#'>{item}</a>" for item in PAGE_NAV)
    text = "".join(f"<p>{line}</p>" for line in PAGE_TEXT)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "body{margin:0;font-family:'DejaVu Sans',sans-serif;color:#333}"
        "header{background:#143c6e;color:#fff;padding:16px 40px;display:flex;"
        "justify-content:space-between;align-items:center}"
        "header b{font-size:28px} nav a{color:#dde6ff;margin-left:40px;text-decoration:none;"
        "font-size:18px} main{padding:20px 40px} h1{font-size:34px;color:#141414}"
        "p{font-size:18px} button{background:#c83c28;color:#fff;border:0;border-radius:8px;"
        "font-size:18px;padding:12px 24px}"
        f"</style></head><body><header><b>{PAGE_TITLE}</b><nav>{nav}</nav></header>"
        f"<main><h1>{PAGE_HEADING}</h1>{text}<button>{PAGE_BUTTON}</button></main></body></html>"
    )


CHROMIUM = Path("/usr/bin/chromium")


def screenshot(html: Path, out: Path, size: tuple[int, int] = (1280, 800)) -> None:
    """Headless Chromium's screenshot of a local HTML file (no network: a file URL)."""
    import subprocess

    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--hide-scrollbars",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={out}",
            html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _font(name: str) -> Path:
    for d in FONT_DIRS:
        if (d / name).is_file():
            return d / name
    raise SystemExit(f"font {name} missing: apt-get install fonts-dejavu-core fonts-liberation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    photos = generate(args.folder, args.count, args.seed)
    print(f"{len(photos)} photos, {sum(len(p.items) for p in photos)} texts in {args.folder}")


if __name__ == "__main__":
    main()

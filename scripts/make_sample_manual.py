"""Author the sample manual shipped in localrag/data: a fictional countertop water purifier.

Run it to regenerate `localrag/data/aquapure-300-manual.pdf`. The output is deterministic:
diagrams are vector paths (as in real manuals), the two photos are raster images drawn here.
"""

from __future__ import annotations

import io
import math
import random
import sys
from pathlib import Path

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OUT = Path(__file__).resolve().parents[1] / "localrag" / "data" / "aquapure-300-manual.pdf"


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def photo_unit() -> bytes:
    """A shaded 'product photo' of the purifier with a printed model label."""
    rng = random.Random(3)
    w, h = 640, 480
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            v = 200 + int(40 * (y / h)) - int(20 * (x / w))
            px[x, y] = (v - 20, v - 10, v)
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((200, 60, 440, 420), radius=40, fill=(235, 238, 242), outline=(90, 95, 110), width=4)
    d.rectangle((230, 110, 410, 260), fill=(120, 170, 215), outline=(60, 80, 120), width=3)
    for i in range(6):
        d.ellipse((250 + i * 25, 300, 268 + i * 25, 318), fill=(40 + i * 30, 200 - i * 20, 80))
    d.rectangle((180, 410, 460, 440), fill=(70, 70, 80))
    d.text((240, 340), "AquaPure 300", fill=(20, 30, 60), font=_font(28))
    d.text((262, 180), "UV-C ACTIVE", fill=(255, 255, 255), font=_font(20))
    for _ in range(4000):
        x, y = rng.randrange(w), rng.randrange(h)
        r, g, b = px[x, y]
        n = rng.randint(-12, 12)
        px[x, y] = (max(0, min(255, r + n)), max(0, min(255, g + n)), max(0, min(255, b + n)))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def photo_cartridge() -> bytes:
    """A 'photo' of the replacement filter cartridge with its part number."""
    w, h = 560, 420
    img = Image.new("RGB", (w, h), (250, 246, 236))
    d = ImageDraw.Draw(img)
    for i in range(0, 200, 4):
        shade = 150 + int(80 * math.sin(i / 200 * math.pi))
        d.rectangle((180 + i, 70, 184 + i, 330), fill=(shade, shade, shade + 10))
    d.ellipse((180, 40, 380, 100), fill=(90, 130, 190), outline=(40, 60, 100), width=3)
    d.ellipse((180, 300, 380, 360), fill=(200, 200, 210), outline=(90, 90, 100), width=3)
    d.rectangle((205, 150, 355, 250), fill=(255, 255, 255), outline=(30, 30, 30), width=2)
    d.text((218, 165), "CF-300", fill=(10, 10, 10), font=_font(34))
    d.text((222, 212), "CARBON", fill=(10, 60, 120), font=_font(22))
    d.ellipse((430, 300, 500, 370), outline=(20, 20, 20), width=4)
    d.ellipse((445, 315, 485, 355), fill=(250, 246, 236))
    d.text((418, 375), "O-ring", fill=(20, 20, 20), font=_font(18))
    img = img.filter(ImageFilter.GaussianBlur(0.5))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


class Manual(FPDF):
    """FPDF with the manual's header, footer and drawing helpers."""

    def header(self) -> None:
        """Running header."""
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(90)
        self.cell(0, 6, "AquaPure 300 Countertop Water Purifier - Owner's Manual", align="R")
        self.ln(10)
        self.set_text_color(0)

    def footer(self) -> None:
        """Page number footer."""
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, f"Page {self.page_no()}", align="C")

    def h1(self, text: str) -> None:
        """Section heading."""
        self.set_font("Helvetica", "B", 15)
        self.cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def para(self, text: str) -> None:
        """Body paragraph."""
        self.set_font("Helvetica", "", 10)
        self.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def caption(self, text: str) -> None:
        """Figure caption below a figure."""
        self.set_font("Helvetica", "I", 9)
        self.cell(0, 6, text, align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def label(self, x: float, y: float, text: str, size: int = 8) -> None:
        """A callout label at (x, y)."""
        self.set_font("Helvetica", "", size)
        self.text(x, y, text)

    def arrow(self, x1: float, y1: float, x2: float, y2: float) -> None:
        """A line with a filled arrow head at (x2, y2)."""
        self.line(x1, y1, x2, y2)
        a = math.atan2(y2 - y1, x2 - x1)
        p1 = (x2 - 3 * math.cos(a - 0.4), y2 - 3 * math.sin(a - 0.4))
        p2 = (x2 - 3 * math.cos(a + 0.4), y2 - 3 * math.sin(a + 0.4))
        self.polygon([(x2, y2), p1, p2], style="F")


def exploded_view(pdf: Manual, top: float) -> None:
    """Figure 1: exploded view of the filter housing stack."""
    pdf.set_line_width(0.4)
    cx = 80
    parts = [
        ("1  Lid with fill funnel", 12, 46),
        ("2  O-ring seal (OR-18)", 4, 40),
        ("3  Filter cartridge CF-300", 34, 30),
        ("4  Filter housing", 30, 44),
        ("5  UV-C lamp module", 14, 16),
        ("6  Pump and base", 18, 56),
    ]
    y = top
    for i, (name, hgt, wid) in enumerate(parts):
        if i == 1:
            pdf.ellipse(cx - wid / 2, y, wid, hgt)
        elif i == 2:
            pdf.rect(cx - wid / 2, y, wid, hgt)
            for k in range(1, 6):
                pdf.line(cx - wid / 2, y + k * hgt / 6, cx + wid / 2, y + k * hgt / 6)
        elif i == 4:
            pdf.rect(cx - wid / 2, y, wid, hgt)
            pdf.line(cx - wid / 2 + 2, y + hgt / 2, cx + wid / 2 - 2, y + hgt / 2)
        else:
            pdf.polygon(
                [
                    (cx - wid / 2, y + hgt),
                    (cx - wid / 2 + 4, y),
                    (cx + wid / 2 - 4, y),
                    (cx + wid / 2, y + hgt),
                ]
            )
        pdf.set_dash_pattern(dash=1.5, gap=1.5)
        pdf.line(cx, y + hgt, cx, y + hgt + 6)
        pdf.set_dash_pattern()
        pdf.line(cx + wid / 2, y + hgt / 2, 125, y + hgt / 2)
        pdf.label(127, y + hgt / 2 + 1, name)
        y += hgt + 7


def flow_diagram(pdf: Manual, top: float) -> None:
    """Figure 2: water flow through the unit."""
    pdf.set_line_width(0.5)
    steps = ["Tap water in", "Sediment mesh", "Carbon CF-300", "UV-C chamber", "Clean outlet"]
    x = 18
    for i, s in enumerate(steps):
        pdf.rect(x, top, 30, 16)
        pdf.label(x + 2, top + 9, s, 7)
        if i < len(steps) - 1:
            pdf.arrow(x + 30, top + 8, x + 38, top + 8)
        x += 38
    pdf.rect(90, top + 30, 36, 14)
    pdf.label(92, top + 38, "Drain valve (flush)", 7)
    pdf.arrow(108, top + 16, 108, top + 30)


def wiring_schematic(pdf: Manual, top: float) -> None:
    """Figure 3: wiring schematic of the 12 V circuit."""
    pdf.set_line_width(0.5)
    pdf.rect(20, top, 28, 18)
    pdf.label(22, top + 8, "12 V DC", 8)
    pdf.label(22, top + 14, "adapter J1", 7)
    pdf.line(48, top + 4, 70, top + 4)
    pdf.rect(70, top, 14, 8)
    pdf.label(70, top - 2, "Fuse F1 2A", 7)
    pdf.line(84, top + 4, 100, top + 4)
    pdf.line(100, top + 4, 108, top - 2)
    pdf.label(100, top - 5, "Switch S1", 7)
    pdf.line(110, top + 4, 130, top + 4)
    pdf.line(130, top + 4, 130, top + 40)
    pdf.line(130, top + 4, 165, top + 4)
    pdf.ellipse(160, top + 12, 16, 16)
    pdf.label(165, top + 22, "M", 9)
    pdf.label(150, top + 34, "Pump motor M1", 7)
    pdf.line(165, top + 4, 168, top + 12)
    pdf.rect(118, top + 40, 24, 10)
    pdf.label(119, top + 47, "UV lamp L1", 7)
    pdf.line(20 + 14, top + 18, 34, top + 60)
    pdf.line(34, top + 60, 168, top + 60)
    pdf.line(168, top + 28, 168, top + 60)
    pdf.line(130, top + 50, 130, top + 60)
    pdf.label(80, top + 65, "GND (black wire)", 7)
    pdf.label(52, top + 2, "red wire", 7)


def housing_section(pdf: Manual, top: float) -> None:
    """Figure 4: filter housing cross-section with the bayonet lock."""
    pdf.set_line_width(0.5)
    pdf.rect(60, top, 60, 70)
    pdf.rect(70, top + 8, 40, 56)
    for k in range(8):
        pdf.line(70, top + 8 + k * 7, 110, top + 15 + k * 7 if k < 7 else top + 64)
    pdf.ellipse(66, top + 2, 48, 8)
    pdf.polygon([(56, top - 6), (124, top - 6), (120, top), (60, top)], style="D")
    pdf.arrow(135, top - 10, 122, top - 3)
    pdf.label(136, top - 10, "A: twist lid 1/4 turn counter-clockwise", 7)
    pdf.arrow(135, top + 6, 114, top + 6)
    pdf.label(136, top + 7, "B: O-ring seat - lubricate", 7)
    pdf.arrow(135, top + 35, 110, top + 35)
    pdf.label(136, top + 36, "C: cartridge CF-300", 7)
    pdf.arrow(135, top + 66, 120, top + 66)
    pdf.label(136, top + 67, "D: housing drain plug", 7)


def control_panel(pdf: Manual, top: float) -> None:
    """Figure 5: control panel layout with buttons and status LEDs."""
    pdf.set_line_width(0.5)
    pdf.rect(30, top, 150, 44, round_corners=True, style="D")
    names = [("POWER", 45), ("FLUSH", 80), ("UV", 115), ("RESET", 150)]
    for name, x in names:
        pdf.ellipse(x - 7, top + 10, 14, 14)
        pdf.label(x - 8, top + 32, name, 8)
    for i, (name, col) in enumerate([("green", 0), ("amber", 1), ("red", 2)]):
        pdf.ellipse(40 + i * 14, top + 37, 4, 4, style="F")
        del name, col
    pdf.label(84, top + 41, "status LEDs: green = ok, amber = filter due, red = fault", 6)


def build() -> bytes:
    """Build the manual and return the PDF bytes."""
    pdf = Manual(format="A4")
    pdf.set_creation_date(
        __import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").timezone.utc)
    )
    pdf.set_title("AquaPure 300 Owner's Manual")
    pdf.set_author("AquaPure Appliances (fictional)")
    pdf.set_auto_page_break(True, 15)

    pdf.add_page()
    pdf.set_font("Helvetica", "B", 24)
    pdf.cell(0, 14, "AquaPure 300", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 13)
    pdf.cell(0, 8, "Countertop Water Purifier - Owner's Manual", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.image(io.BytesIO(photo_unit()), x=40, w=120)
    pdf.caption("Figure 6: AquaPure 300 unit, front view")
    pdf.para(
        "Thank you for choosing the AquaPure 300. This manual explains how to install, operate, "
        "clean and service the purifier. Keep it near the unit. Model AP-300, 12 V DC, 24 W."
    )

    pdf.add_page()
    pdf.h1("1. Safety instructions")
    pdf.para(
        "Unplug the 12 V adapter before opening the housing or touching the UV-C lamp module. "
        "Never look directly at the UV-C lamp: UV-C light can injure the eyes and skin. "
        "Use only the supplied adapter J1 (12 V DC, 2 A). Do not operate the unit with a cracked "
        "housing. Connect the purifier only to cold drinking-water supplies below 38 C. "
        "Children must not clean or service the unit."
    )
    pdf.h1("2. Parts overview")
    pdf.para("The purifier is built as a stack of parts that can be separated for service.")
    exploded_view(pdf, pdf.get_y() + 2)
    pdf.set_y(pdf.get_y() + 158)
    pdf.caption("Figure 1: Exploded view of the AquaPure 300")

    pdf.add_page()
    pdf.h1("3. Installation")
    pdf.para(
        "Place the unit on a level surface near a sink. Rinse the new cartridge for 30 seconds "
        "before fitting it. Fill the top funnel with cold water, plug in the adapter and press "
        "POWER. Run two full flush cycles (press FLUSH) and discard the water before first use. "
        "Water flows through three stages, shown below."
    )
    flow_diagram(pdf, pdf.get_y() + 4)
    pdf.set_y(pdf.get_y() + 52)
    pdf.caption("Figure 2: Water flow through the purifier")
    pdf.para(
        "The drain valve opens during a flush cycle and returns the first litre of water to the "
        "sink. A full flush takes about 90 seconds."
    )

    pdf.add_page()
    pdf.h1("4. Electrical connections")
    pdf.para(
        "The purifier runs from the 12 V DC adapter J1. The red wire carries +12 V through fuse "
        "F1 (2 A, slow blow) and the main switch S1 to the pump motor M1 and the UV lamp L1. "
        "The black wire is ground. If the unit does not start, check fuse F1 first."
    )
    wiring_schematic(pdf, pdf.get_y() + 10)
    pdf.set_y(pdf.get_y() + 82)
    pdf.caption("Figure 3: Wiring schematic of the 12 V circuit")

    pdf.add_page()
    pdf.h1("5. Replacing the filter cartridge")
    pdf.para(
        "Replace the CF-300 carbon cartridge every 6 months or after 1000 litres, or when the "
        "amber LED lights. Steps: (1) press POWER to switch off and unplug the adapter; "
        "(2) twist the lid a quarter turn counter-clockwise and lift it off; (3) pull the old "
        "cartridge straight up; (4) check the O-ring seal OR-18 and lubricate it with food-grade "
        "silicone grease; (5) push the new cartridge down until it clicks; (6) refit the lid, "
        "plug in and hold RESET for 5 seconds to reset the filter timer."
    )
    housing_section(pdf, pdf.get_y() + 14)
    pdf.set_y(pdf.get_y() + 90)
    pdf.caption("Figure 4: Filter housing cross-section and bayonet lid")

    pdf.add_page()
    pdf.h1("6. Replacement parts")
    pdf.para(
        "Use only genuine parts. The replacement cartridge CF-300 comes with a new O-ring. "
        "Order the O-ring seal separately as part OR-18 and the UV-C lamp module as part UV-12."
    )
    pdf.image(io.BytesIO(photo_cartridge()), x=45, w=110)
    pdf.caption("Figure 7: Replacement cartridge CF-300 with O-ring")

    pdf.add_page()
    pdf.h1("7. Control panel")
    pdf.para(
        "The control panel has four buttons and three status LEDs. POWER switches the unit on "
        "and off. FLUSH starts a 90 second rinse. UV switches the UV-C lamp on for a manual "
        "sterilisation cycle. RESET, held for 5 seconds, resets the filter timer."
    )
    control_panel(pdf, pdf.get_y() + 4)
    pdf.set_y(pdf.get_y() + 52)
    pdf.caption("Figure 5: Control panel buttons and status LEDs")

    pdf.add_page()
    pdf.h1("8. Troubleshooting")
    pdf.para("Find the symptom in the table and try the remedy before you call service.")
    rows = [
        ("Symptom", "Likely cause", "Remedy"),
        ("Unit does not start", "Fuse F1 blown", "Replace F1 with a 2 A slow-blow fuse"),
        ("Red LED flashes", "UV-C lamp failed", "Replace the UV-12 lamp module"),
        ("Amber LED on", "Filter due", "Replace cartridge CF-300, hold RESET 5 s"),
        ("Water leaks at lid", "O-ring dry or cut", "Lubricate or replace O-ring OR-18"),
        ("Slow flow", "Clogged sediment mesh", "Rinse the mesh under running water"),
        ("Bad taste", "Cartridge exhausted", "Replace the cartridge and flush twice"),
    ]
    pdf.set_font("Helvetica", "", 9)
    y = pdf.get_y() + 2
    pdf.set_line_width(0.3)
    pdf.line(15, y, 195, y)
    for i, row in enumerate(rows):
        pdf.set_font("Helvetica", "B" if i == 0 else "", 9)
        pdf.set_xy(15, y + 1)
        for text, width in zip(row, (50, 55, 75), strict=True):
            pdf.cell(width, 6, text)
        y += 8
        if i == 0:
            pdf.line(15, y, 195, y)
    pdf.line(15, y, 195, y)
    pdf.set_y(y + 6)

    pdf.add_page()
    pdf.h1("9. Cleaning and maintenance")
    pdf.para(
        "Wipe the outside with a soft damp cloth. Every month, rinse the sediment mesh under "
        "running water and descale the housing with a 1:10 vinegar solution, then run two flush "
        "cycles. Replace the UV-12 lamp module every 12 months. Do not use a dishwasher: the "
        "housing deforms above 60 C."
    )
    pdf.h1("10. Specifications and warranty")
    pdf.para(
        "Model: AP-300. Power: 12 V DC, 24 W. Capacity: 3 litres. Flow rate: 0.5 litres per "
        "minute. Cartridge life: 1000 litres or 6 months. Dimensions: 220 x 180 x 360 mm. "
        "Weight: 2.4 kg. Warranty: 2 years on the unit, 6 months on the UV lamp. The warranty "
        "does not cover damage from non-genuine cartridges."
    )
    return bytes(pdf.output())


def write_demo_query() -> Path:
    """The demo's query photo: the wiring schematic cropped, rotated and JPEG-compressed."""
    from localrag.evaluation.perturb import demo_query
    from localrag.ingest import file_sha256, parse_file

    doc = parse_file(OUT, file_sha256(OUT))
    wiring = next(f for f in doc.figures if "Wiring" in f.caption)
    out = OUT.parent / "query-wiring-photo.jpg"
    demo_query(wiring.image).save(out, "JPEG", quality=40)
    return out


def main() -> int:
    """Write the sample manual and the demo's query photo."""
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(build())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    print(f"wrote {write_demo_query()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

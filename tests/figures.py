"""Shared check for the plotting tests: a figure function wrote a real PNG and PDF."""


def check_figure(paths: list[str], stem: str) -> None:
    assert paths == [f"{stem}.png", f"{stem}.pdf"]
    png, pdf = (open(p, "rb").read() for p in paths)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000

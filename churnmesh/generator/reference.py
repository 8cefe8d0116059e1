"""Reference data the generator draws from: the seeds (plans, products, root causes, regions)
plus name lists and the app release calendar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnmesh.settings import SEEDS_DIR

FIRST_NAMES_FEMALE = (
    "Emma Olivia Ava Sophia Mia Amelia Harper Evelyn Chloé Zoë Renée Léa "
    "Inès Maëlle Sofía Lucía María Ana Ingrid Astrid Freya Aisha Fatima Priya "
    "Ananya Yuki Hana Mei Chiara Giulia Hannah Lena"
).split()
FIRST_NAMES_MALE = (
    "Liam Noah Oliver Elijah James William Lucas Henry José Andrés Björn Søren "
    "Jörg François Noé Mateo Santiago Diego Arjun Rohan Kenji Haruto Wei Luca "
    "Marco Ahmed Omar Jonas Felix Leon Tomás"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones García Miller Davis Rodríguez Martínez Hernández López "
    "González Wilson Anderson Thomas Taylor Moore Martin Lee Müller Schmidt Schneider Fischer "
    "Weber Dubois Lefèvre Moreau Rossi Russo Bianchi Novak Kowalski Nowak Johansson Nilsson "
    "Sørensen Jensen Patel Sharma Gupta Tanaka Suzuki Watanabe Kim Park Nguyen Silva "
    "Santos Pereira O'Brien Murphy Kelly"
).split()
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "example.org")

OS_BY_DEVICE = {
    "mobile": ("iOS 17", "iOS 18", "Android 13", "Android 14", "Android 15"),
    "desktop": ("Windows 11", "Windows 10", "macOS 14", "macOS 15"),
    "tablet": ("iPadOS 17", "iPadOS 18", "Android 14"),
}


@dataclass(frozen=True)
class AppRelease:
    version: str
    day: int  # day offset from the generation start
    defective: bool


def app_releases(days: int) -> tuple[AppRelease, ...]:
    """A minor release roughly every 75 days; the release in the middle of the window is defective
    (it crashes and drives a ticket spike) and is fixed by a patch three weeks later."""
    releases = [AppRelease("4.0.0", -400, False)]
    bad_day = int(days * 0.55)
    minor = 1
    for day in range(75, days, 75):
        if abs(day - bad_day) < 75 and not any(r.defective for r in releases):
            releases.append(AppRelease(f"4.{minor}.0", bad_day, True))
            releases.append(AppRelease(f"4.{minor}.1", bad_day + 21, False))
        else:
            releases.append(AppRelease(f"4.{minor}.0", day, False))
        minor += 1
    releases.sort(key=lambda r: r.day)
    return tuple(releases)


@dataclass(frozen=True)
class Reference:
    plans: pd.DataFrame
    products: pd.DataFrame
    root_causes: pd.DataFrame
    regions: pd.DataFrame

    @property
    def categories(self) -> np.ndarray:
        return np.array(sorted(self.products["category"].unique()))


def load_reference(seeds_dir: Path = SEEDS_DIR) -> Reference:
    products = pd.read_csv(seeds_dir / "products.csv", dtype={"product_id": str})
    # Within each category, cheapest first: the spend tier picks a position in this order.
    products = products.sort_values(["category", "list_price_usd", "product_id"]).reset_index(drop=True)
    return Reference(
        plans=pd.read_csv(seeds_dir / "plans.csv"),
        products=products,
        root_causes=pd.read_csv(seeds_dir / "root_causes.csv"),
        regions=pd.read_csv(seeds_dir / "regions.csv", keep_default_na=False),
    )

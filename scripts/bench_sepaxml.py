"""The same payments as one pain.001.001.09 through the Python library sepaxml.

Used by `scripts/bench --sepaxml N`: reads the `paid.csv` files of a disburse run
(every line it paid: reference, name, ID, account, amount) and writes them as one
pain.001.001.09 credit transfer with sepaxml, validation off, timing only the
library's part (adding the payments and exporting), as a clerk's script would
use it. Accounts are not IBANs and banks have no BIC: the library is given them
as they are (validation is off, so it does not check them).
"""

import csv
import datetime
import sys
import time

from sepaxml import SepaTransfer


def main():
    out, files = sys.argv[1], sys.argv[2:]
    rows = []
    for f in files:
        with open(f, newline="", encoding="utf-8") as fh:
            rows.extend(csv.DictReader(fh))
    config = {
        "name": "示例县民政局社会救助资金专户",
        "IBAN": "33001610000053012345",
        "BIC": "ABCDCNBJXXX",
        "batch": True,
        "currency": "CNY",
    }
    start = time.perf_counter()
    sepa = SepaTransfer(config, schema="pain.001.001.09", clean=False)
    today = datetime.date(2026, 11, 25)
    for r in rows:
        yuan, _, fen = r["amount"].partition(".")
        sepa.add_payment(
            {
                "name": r["name"],
                "IBAN": r["account"],
                "BIC": "ABCDCNBJXXX",
                "amount": int(yuan) * 100 + int((fen + "00")[:2]),
                "execution_date": today,
                "description": "2026年11月 " + r["name"],
                "endtoend_id": r["end_to_end_id"],
            }
        )
    xml = sepa.export(validate=False)
    with open(out, "wb") as fh:
        fh.write(xml)
    took = time.perf_counter() - start
    print(f"{len(rows)} {took:.2f} {len(xml)}")


if __name__ == "__main__":
    main()

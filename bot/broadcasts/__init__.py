"""The fan-out: from a notice due to go, to a send per resident by the route Zalo allows.

``dispatch`` (the worker) → ``plan`` (who gets what by which route, the ledger, cancel) using
``routes`` (the route rule), ``message`` (a notice as replies), ``quota`` (quiet hours, Zalo's
broadcast quota and hours) and ``relay`` (the propagandists); ``article`` broadcasts the article
through the channel; ``figures`` reads it all back for staff.
"""

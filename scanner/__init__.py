"""dccscan: TLS endpoint compliance scanner for the DCCKI.

Flow, in one direction only::

    targets -> probe (network, trio) -> evaluate (pure, offline) -> results (JSON model)
            -> renderers (terminal, HTML, JSON, JUnit, CSV) and stores (history, evidence)
"""

__version__ = "0.1.0"

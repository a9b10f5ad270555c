"""Report: execute the notebooks and build one self-contained HTML report; prose in text/."""

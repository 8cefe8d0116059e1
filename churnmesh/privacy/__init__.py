"""Personal data: where it may go.

The classification of every source column is in churnmesh/contracts.py (`Pii`). The marts carry
no names, contact details, dates of birth or financial figures (the `no_pii_columns` audit blocks
a build that would expose one); the campaign export (`export.py`) is the one path that joins
contact details back to customers, for those who consented to marketing.
"""

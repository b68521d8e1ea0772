"""The demo fintech backend: customers, accounts, cards, money movements and support tickets."""

"""The sandbox's SQLite persistence, by area. Every method is synchronous and runs on the app's database
thread.

``database``: the file, its schema, transactions and the first-start seed. ``people``: users and groups.
``tasks``: task reads (filters, sorting and paging in SQL) and writes. ``attachments``: uploads and files.
"""

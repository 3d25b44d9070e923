"""Background jobs: the durable queue (queue.py), the runner that takes jobs in turns across users within their
budgets (runner.py), the rendition job (renditions.py), and the web server's own worker threads (threads.py).
`flask momento work` and the server threads run the same runner.
"""

"""The web: blueprints for sign-in (auth), the pages, the JSON API, tus, media serving and the account page,
the streamed multipart receive, security headers, rate limits, and the helpers the blueprints share (library).
"""

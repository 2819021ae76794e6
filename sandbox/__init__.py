"""A stand-in Open edX LMS over HTTP, so gradefreeze can be tested and benchmarked end to end.

It serves the enrollment, grade and certificate endpoints edx-api-client calls, plus the
OAuth2 token endpoint, from a JSON data file, with configurable latency and faults.
See sandbox/README.md.
"""

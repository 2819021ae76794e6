"""Whether a text parses as an edX course key (opaque-keys' CourseLocator), roughly.

Both forms edX accepts: `course-v1:Org+Course+Run` and the deprecated `Org/Course/Run`.
Views answer a key that does not parse differently from one that names no course run. The
data file's course runs are always taken as keys, even where opaque-keys would refuse one
(the project's demo key has five `+`-separated parts, which a CourseLocator cannot).
"""

import re

_PART = r"[\w\-~.:]+"
_COURSE_V1 = re.compile(rf"^course-v1:{_PART}\+{_PART}\+{_PART}$")
_DEPRECATED = re.compile(r"^[\w\-~.:%]+/[\w\-~.:%]+/[\w\-~.:%]+$")


def is_course_key(text: str) -> bool:
    return bool(_COURSE_V1.match(text) or _DEPRECATED.match(text))

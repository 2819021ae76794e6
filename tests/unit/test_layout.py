"""The layout's rules, read from the import graph (grimp builds it from the source).

Product code (what production installs) never depends on the tools around it; grades
reads the LMS and the cache only through dashboard's api (and its failure vocabulary).
"""

import grimp
import pytest

PRODUCT = ("courses", "dashboard", "grades", "gradefreeze", "learners")
TOOLS = ("bench", "demo", "sandbox")
DASHBOARD_FOR_GRADES = {"dashboard.api", "dashboard.failures"}


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PRODUCT, *TOOLS, "tests", exclude_type_checking_imports=True)


@pytest.mark.parametrize("product", PRODUCT)
@pytest.mark.parametrize("tool", TOOLS)
def test_no_product_module_imports_a_tool(graph, product, tool):
    chains = graph.find_shortest_chains(importer=product, imported=tool, as_packages=True)
    assert not chains, f"{product} depends on {tool}: " + "; ".join(
        " -> ".join(chain) for chain in chains
    )


def test_grades_uses_dashboard_only_through_its_api(graph):
    used = {
        imported
        for module in graph.find_children("grades") | graph.find_descendants("grades")
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.split(".")[0] == "dashboard"
    }
    assert used <= DASHBOARD_FOR_GRADES, sorted(used - DASHBOARD_FOR_GRADES)


def test_the_grading_policy_touches_no_database_and_no_network(graph):
    imported = graph.find_modules_directly_imported_by("grades.policy")
    assert imported <= {"dashboard.failures"}, sorted(imported)

"""The MCP tools' one error boundary (`functions/mcp_boundary.py`): what a caller reads when a
tool fails, directly and through a server whose database is gone."""

from __future__ import annotations

import logging

import psycopg
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from psycopg_pool import PoolTimeout

from common.config import Settings
from common.errors import AccessDenied, InvalidRequest
from functions.mcp_boundary import FAILED, REFUSED_VALUE, UNAVAILABLE, tool_errors
from functions.mcp_tools import create_server
from local.serve import free_port


@pytest.mark.parametrize(
    ("raised", "text"),
    [
        (AccessDenied("not in your scope"), "not in your scope"),
        (InvalidRequest("weeks must be 1-52"), "weeks must be 1-52"),
        (ToolError("the tool's own words"), "the tool's own words"),
        (psycopg.OperationalError("connection to 10.0.0.5 refused"), UNAVAILABLE),
        (PoolTimeout("couldn't get a connection after 5.00 sec"), UNAVAILABLE),
        (psycopg.DataError("invalid byte sequence 0x00 in rep 'Dana'"), REFUSED_VALUE),
        (OverflowError("date value out of range"), REFUSED_VALUE),
    ],
)
def test_each_failure_reads_as_one_line(raised: Exception, text: str) -> None:
    with pytest.raises(ToolError) as caught, tool_errors():
        raise raised
    assert str(caught.value) == text


def test_an_unexpected_error_is_logged_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.ERROR, "sales_coach.mcp"),
        pytest.raises(ToolError) as caught,
        tool_errors(),
    ):
        raise KeyError("transcript of call 7001001")
    assert str(caught.value) == FAILED
    assert "7001001" not in str(caught.value)
    assert caplog.records[-1].exc_info is not None  # the traceback is in the server's log


async def test_a_database_that_is_gone_is_unavailable_not_a_traceback(settings: Settings) -> None:
    """Nothing listens where the database should be: the tool says so in one line, after the
    pool's wait (5 s), and the server keeps answering."""
    gone = settings.model_copy(
        update={"database_url": f"postgresql://coach@127.0.0.1:{free_port()}/coach"}
    )
    async with Client(create_server(gone, stdio_user="u-m0")) as client:
        for _ in range(2):
            result = await client.call_tool(
                "get_call_coaching", {"call_id": "c-1"}, raise_on_error=False
            )
            assert result.is_error and result.content[0].text == UNAVAILABLE  # type: ignore[union-attr]

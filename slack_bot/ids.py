"""Every action_id, callback_id and block_id the app uses: shared by the builders and the listeners.

Ids that must say which task they act on carry the task's uuid after a ``:`` (see ``with_task``).
"""

from __future__ import annotations

COMMAND = "/task"

# --- card and list actions (block_actions)
ASSIGN_ME = "task_assign_me"
REASSIGN = "task_reassign"  # external select: users and groups
SET_STATUS = "task_set_status"
SET_PRIORITY = "task_set_priority"
ADD_NOTE = "task_add_note"
EDIT = "task_edit"
CLOSE = "task_close"
REOPEN = "task_reopen"
ROW_MENU = "task_row_menu"  # the overflow menu on a search result or App Home row
MORE_RESULTS = "results_more"
HOME_NEW_TASK = "home_new_task"
HOME_SEARCH = "home_search"
HOME_REFRESH = "home_refresh"
SHOW_TASK = "task_show"  # a "Show" button on a digest's row: the task's card (value: its uuid)

# Overflow option values: "<verb>|<task uuid>".
MENU_ASSIGN_ME = "assign_me"
MENU_REASSIGN = "reassign"
MENU_NOTE = "note"
MENU_EDIT = "edit"
MENU_CLOSE = "close"
MENU_REOPEN = "reopen"

# --- block ids
CARD_ACTIONS = "card_actions"  # + ":<uuid>"
CARD_MORE_ACTIONS = "card_more"  # + ":<uuid>"
ROW = "row"  # + ":<uuid>"

# --- modals (callback_id) and their inputs (block_id / action_id pairs)
CREATE_MODAL = "task_create"
EDIT_MODAL = "task_edit_modal"
NOTE_MODAL = "task_note_modal"
SEARCH_MODAL = "task_search_modal"
REASSIGN_MODAL = "task_reassign_modal"
LOADING_MODAL = "task_loading"
SAVING_MODAL = "task_saving"  # a submitted form while UltraCart works (no submit button)
SAVED_MODAL = "task_saved"  # what it turns into when the work is done

# Blocks a form gets back when UltraCart refused what it sent: dropped when it is rebuilt again.
FORM_ERROR = "form_error"  # the banner at the top; + ":<block id>" for the note under a field

NAME = "name"
DETAILS = "details"
PRIORITY = "priority"
STATUS = "status"
DUE = "due"
ASSIGNEE = "assignee"  # external select in modals (users, groups; search adds me/unassigned)
TAGS = "tags"
OBJECT_TYPE = "object_type"
OBJECT_ID = "object_id"
NOTE_TEXT = "note_text"
DUE_AFTER = "due_after"
DUE_BEFORE = "due_before"
OVERDUE = "overdue"
CREATED_AFTER = "created_after"
CREATED_BEFORE = "created_before"
SORT = "sort"

# --- message shortcut
SHORTCUT_CREATE_FROM_MESSAGE = "create_task_from_message"

# Assignee option values.
USER_PREFIX = "user:"
GROUP_PREFIX = "group:"
ME_VALUE = "me"
UNASSIGNED_VALUE = "unassigned"


def with_task(base: str, task_uuid: str) -> str:
    return f"{base}:{task_uuid}"


def task_of(block_or_value: str) -> str:
    """The uuid after the first ``:`` (``card_actions:<uuid>`` → ``<uuid>``)."""
    return block_or_value.split(":", 1)[1] if ":" in block_or_value else ""


# Identity (slack_bot.linking): buttons whose value is "<slack user id>:<UltraCart user id>".
IAM_APPROVE = "identity_approve"
IAM_DECLINE = "identity_decline"
PEOPLE_LINK = "identity_link"

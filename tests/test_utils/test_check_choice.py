"""check_choice: the one 'must be one of' error of crrg's arguments."""
import pytest

from crrg.utils import check_choice


def test_accepts_a_choice():
    check_choice('test', ('train', 'test'), 'split')


def test_message_names_owner_argument_choices_and_value():
    with pytest.raises(ValueError) as err:
        check_choice('valid', ('train', 'validate'), 'split', 'MyDataset')
    assert str(err.value) == ("MyDataset: split must be one of "
                              "('train', 'validate'), got 'valid'")
    with pytest.raises(ValueError) as err:
        check_choice(3, (0, 1), 'first_position')
    assert str(err.value) == 'first_position must be one of (0, 1), got 3'

// Code generated from tigerbeetle-go v0.16.78 pkg/types/bindings.go; DO NOT EDIT.

package ledger

// CreateAccountResult is TigerBeetle's per-event result of create_accounts.
// The numeric values are TigerBeetle's wire values.
type CreateAccountResult uint32

// CreateAccountResult values, with TigerBeetle's numbering.
const (
	AccountOK                                   CreateAccountResult = 0
	AccountLinkedEventFailed                    CreateAccountResult = 1
	AccountLinkedEventChainOpen                 CreateAccountResult = 2
	AccountImportedEventExpected                CreateAccountResult = 22
	AccountImportedEventNotExpected             CreateAccountResult = 23
	AccountTimestampMustBeZero                  CreateAccountResult = 3
	AccountImportedEventTimestampOutOfRange     CreateAccountResult = 24
	AccountImportedEventTimestampMustNotAdvance CreateAccountResult = 25
	AccountReservedField                        CreateAccountResult = 4
	AccountReservedFlag                         CreateAccountResult = 5
	AccountIDMustNotBeZero                      CreateAccountResult = 6
	AccountIDMustNotBeIntMax                    CreateAccountResult = 7
	AccountExistsWithDifferentFlags             CreateAccountResult = 15
	AccountExistsWithDifferentUserData128       CreateAccountResult = 16
	AccountExistsWithDifferentUserData64        CreateAccountResult = 17
	AccountExistsWithDifferentUserData32        CreateAccountResult = 18
	AccountExistsWithDifferentLedger            CreateAccountResult = 19
	AccountExistsWithDifferentCode              CreateAccountResult = 20
	AccountExists                               CreateAccountResult = 21
	AccountFlagsAreMutuallyExclusive            CreateAccountResult = 8
	AccountDebitsPendingMustBeZero              CreateAccountResult = 9
	AccountDebitsPostedMustBeZero               CreateAccountResult = 10
	AccountCreditsPendingMustBeZero             CreateAccountResult = 11
	AccountCreditsPostedMustBeZero              CreateAccountResult = 12
	AccountLedgerMustNotBeZero                  CreateAccountResult = 13
	AccountCodeMustNotBeZero                    CreateAccountResult = 14
	AccountImportedEventTimestampMustNotRegress CreateAccountResult = 26
)

// CreateTransferResult is TigerBeetle's per-event result of create_transfers.
// The numeric values are TigerBeetle's wire values.
type CreateTransferResult uint32

// CreateTransferResult values, with TigerBeetle's numbering.
const (
	TransferOK                                              CreateTransferResult = 0
	TransferLinkedEventFailed                               CreateTransferResult = 1
	TransferLinkedEventChainOpen                            CreateTransferResult = 2
	TransferImportedEventExpected                           CreateTransferResult = 56
	TransferImportedEventNotExpected                        CreateTransferResult = 57
	TransferTimestampMustBeZero                             CreateTransferResult = 3
	TransferImportedEventTimestampOutOfRange                CreateTransferResult = 58
	TransferImportedEventTimestampMustNotAdvance            CreateTransferResult = 59
	TransferReservedFlag                                    CreateTransferResult = 4
	TransferIDMustNotBeZero                                 CreateTransferResult = 5
	TransferIDMustNotBeIntMax                               CreateTransferResult = 6
	TransferExistsWithDifferentFlags                        CreateTransferResult = 36
	TransferExistsWithDifferentPendingID                    CreateTransferResult = 40
	TransferExistsWithDifferentTimeout                      CreateTransferResult = 44
	TransferExistsWithDifferentDebitAccountID               CreateTransferResult = 37
	TransferExistsWithDifferentCreditAccountID              CreateTransferResult = 38
	TransferExistsWithDifferentAmount                       CreateTransferResult = 39
	TransferExistsWithDifferentUserData128                  CreateTransferResult = 41
	TransferExistsWithDifferentUserData64                   CreateTransferResult = 42
	TransferExistsWithDifferentUserData32                   CreateTransferResult = 43
	TransferExistsWithDifferentLedger                       CreateTransferResult = 67
	TransferExistsWithDifferentCode                         CreateTransferResult = 45
	TransferExists                                          CreateTransferResult = 46
	TransferIDAlreadyFailed                                 CreateTransferResult = 68
	TransferFlagsAreMutuallyExclusive                       CreateTransferResult = 7
	TransferDebitAccountIDMustNotBeZero                     CreateTransferResult = 8
	TransferDebitAccountIDMustNotBeIntMax                   CreateTransferResult = 9
	TransferCreditAccountIDMustNotBeZero                    CreateTransferResult = 10
	TransferCreditAccountIDMustNotBeIntMax                  CreateTransferResult = 11
	TransferAccountsMustBeDifferent                         CreateTransferResult = 12
	TransferPendingIDMustBeZero                             CreateTransferResult = 13
	TransferPendingIDMustNotBeZero                          CreateTransferResult = 14
	TransferPendingIDMustNotBeIntMax                        CreateTransferResult = 15
	TransferPendingIDMustBeDifferent                        CreateTransferResult = 16
	TransferTimeoutReservedForPendingTransfer               CreateTransferResult = 17
	TransferClosingTransferMustBePending                    CreateTransferResult = 64
	TransferLedgerMustNotBeZero                             CreateTransferResult = 19
	TransferCodeMustNotBeZero                               CreateTransferResult = 20
	TransferDebitAccountNotFound                            CreateTransferResult = 21
	TransferCreditAccountNotFound                           CreateTransferResult = 22
	TransferAccountsMustHaveTheSameLedger                   CreateTransferResult = 23
	TransferTransferMustHaveTheSameLedgerAsAccounts         CreateTransferResult = 24
	TransferPendingTransferNotFound                         CreateTransferResult = 25
	TransferPendingTransferNotPending                       CreateTransferResult = 26
	TransferPendingTransferHasDifferentDebitAccountID       CreateTransferResult = 27
	TransferPendingTransferHasDifferentCreditAccountID      CreateTransferResult = 28
	TransferPendingTransferHasDifferentLedger               CreateTransferResult = 29
	TransferPendingTransferHasDifferentCode                 CreateTransferResult = 30
	TransferExceedsPendingTransferAmount                    CreateTransferResult = 31
	TransferPendingTransferHasDifferentAmount               CreateTransferResult = 32
	TransferPendingTransferAlreadyPosted                    CreateTransferResult = 33
	TransferPendingTransferAlreadyVoided                    CreateTransferResult = 34
	TransferPendingTransferExpired                          CreateTransferResult = 35
	TransferImportedEventTimestampMustNotRegress            CreateTransferResult = 60
	TransferImportedEventTimestampMustPostdateDebitAccount  CreateTransferResult = 61
	TransferImportedEventTimestampMustPostdateCreditAccount CreateTransferResult = 62
	TransferImportedEventTimeoutMustBeZero                  CreateTransferResult = 63
	TransferDebitAccountAlreadyClosed                       CreateTransferResult = 65
	TransferCreditAccountAlreadyClosed                      CreateTransferResult = 66
	TransferOverflowsDebitsPending                          CreateTransferResult = 47
	TransferOverflowsCreditsPending                         CreateTransferResult = 48
	TransferOverflowsDebitsPosted                           CreateTransferResult = 49
	TransferOverflowsCreditsPosted                          CreateTransferResult = 50
	TransferOverflowsDebits                                 CreateTransferResult = 51
	TransferOverflowsCredits                                CreateTransferResult = 52
	TransferOverflowsTimeout                                CreateTransferResult = 53
	TransferExceedsCredits                                  CreateTransferResult = 54
	TransferExceedsDebits                                   CreateTransferResult = 55
)

// String returns TigerBeetle's snake_case name of the result.
func (r CreateAccountResult) String() string {
	switch r {
	case AccountOK:
		return "ok"
	case AccountLinkedEventFailed:
		return "linked_event_failed"
	case AccountLinkedEventChainOpen:
		return "linked_event_chain_open"
	case AccountImportedEventExpected:
		return "imported_event_expected"
	case AccountImportedEventNotExpected:
		return "imported_event_not_expected"
	case AccountTimestampMustBeZero:
		return "timestamp_must_be_zero"
	case AccountImportedEventTimestampOutOfRange:
		return "imported_event_timestamp_out_of_range"
	case AccountImportedEventTimestampMustNotAdvance:
		return "imported_event_timestamp_must_not_advance"
	case AccountReservedField:
		return "reserved_field"
	case AccountReservedFlag:
		return "reserved_flag"
	case AccountIDMustNotBeZero:
		return "id_must_not_be_zero"
	case AccountIDMustNotBeIntMax:
		return "id_must_not_be_int_max"
	case AccountExistsWithDifferentFlags:
		return "exists_with_different_flags"
	case AccountExistsWithDifferentUserData128:
		return "exists_with_different_user_data_128"
	case AccountExistsWithDifferentUserData64:
		return "exists_with_different_user_data_64"
	case AccountExistsWithDifferentUserData32:
		return "exists_with_different_user_data_32"
	case AccountExistsWithDifferentLedger:
		return "exists_with_different_ledger"
	case AccountExistsWithDifferentCode:
		return "exists_with_different_code"
	case AccountExists:
		return "exists"
	case AccountFlagsAreMutuallyExclusive:
		return "flags_are_mutually_exclusive"
	case AccountDebitsPendingMustBeZero:
		return "debits_pending_must_be_zero"
	case AccountDebitsPostedMustBeZero:
		return "debits_posted_must_be_zero"
	case AccountCreditsPendingMustBeZero:
		return "credits_pending_must_be_zero"
	case AccountCreditsPostedMustBeZero:
		return "credits_posted_must_be_zero"
	case AccountLedgerMustNotBeZero:
		return "ledger_must_not_be_zero"
	case AccountCodeMustNotBeZero:
		return "code_must_not_be_zero"
	case AccountImportedEventTimestampMustNotRegress:
		return "imported_event_timestamp_must_not_regress"
	}
	return "unknown_create_account_result"
}

// String returns TigerBeetle's snake_case name of the result.
func (r CreateTransferResult) String() string {
	switch r {
	case TransferOK:
		return "ok"
	case TransferLinkedEventFailed:
		return "linked_event_failed"
	case TransferLinkedEventChainOpen:
		return "linked_event_chain_open"
	case TransferImportedEventExpected:
		return "imported_event_expected"
	case TransferImportedEventNotExpected:
		return "imported_event_not_expected"
	case TransferTimestampMustBeZero:
		return "timestamp_must_be_zero"
	case TransferImportedEventTimestampOutOfRange:
		return "imported_event_timestamp_out_of_range"
	case TransferImportedEventTimestampMustNotAdvance:
		return "imported_event_timestamp_must_not_advance"
	case TransferReservedFlag:
		return "reserved_flag"
	case TransferIDMustNotBeZero:
		return "id_must_not_be_zero"
	case TransferIDMustNotBeIntMax:
		return "id_must_not_be_int_max"
	case TransferExistsWithDifferentFlags:
		return "exists_with_different_flags"
	case TransferExistsWithDifferentPendingID:
		return "exists_with_different_pending_id"
	case TransferExistsWithDifferentTimeout:
		return "exists_with_different_timeout"
	case TransferExistsWithDifferentDebitAccountID:
		return "exists_with_different_debit_account_id"
	case TransferExistsWithDifferentCreditAccountID:
		return "exists_with_different_credit_account_id"
	case TransferExistsWithDifferentAmount:
		return "exists_with_different_amount"
	case TransferExistsWithDifferentUserData128:
		return "exists_with_different_user_data_128"
	case TransferExistsWithDifferentUserData64:
		return "exists_with_different_user_data_64"
	case TransferExistsWithDifferentUserData32:
		return "exists_with_different_user_data_32"
	case TransferExistsWithDifferentLedger:
		return "exists_with_different_ledger"
	case TransferExistsWithDifferentCode:
		return "exists_with_different_code"
	case TransferExists:
		return "exists"
	case TransferIDAlreadyFailed:
		return "id_already_failed"
	case TransferFlagsAreMutuallyExclusive:
		return "flags_are_mutually_exclusive"
	case TransferDebitAccountIDMustNotBeZero:
		return "debit_account_id_must_not_be_zero"
	case TransferDebitAccountIDMustNotBeIntMax:
		return "debit_account_id_must_not_be_int_max"
	case TransferCreditAccountIDMustNotBeZero:
		return "credit_account_id_must_not_be_zero"
	case TransferCreditAccountIDMustNotBeIntMax:
		return "credit_account_id_must_not_be_int_max"
	case TransferAccountsMustBeDifferent:
		return "accounts_must_be_different"
	case TransferPendingIDMustBeZero:
		return "pending_id_must_be_zero"
	case TransferPendingIDMustNotBeZero:
		return "pending_id_must_not_be_zero"
	case TransferPendingIDMustNotBeIntMax:
		return "pending_id_must_not_be_int_max"
	case TransferPendingIDMustBeDifferent:
		return "pending_id_must_be_different"
	case TransferTimeoutReservedForPendingTransfer:
		return "timeout_reserved_for_pending_transfer"
	case TransferClosingTransferMustBePending:
		return "closing_transfer_must_be_pending"
	case TransferLedgerMustNotBeZero:
		return "ledger_must_not_be_zero"
	case TransferCodeMustNotBeZero:
		return "code_must_not_be_zero"
	case TransferDebitAccountNotFound:
		return "debit_account_not_found"
	case TransferCreditAccountNotFound:
		return "credit_account_not_found"
	case TransferAccountsMustHaveTheSameLedger:
		return "accounts_must_have_the_same_ledger"
	case TransferTransferMustHaveTheSameLedgerAsAccounts:
		return "transfer_must_have_the_same_ledger_as_accounts"
	case TransferPendingTransferNotFound:
		return "pending_transfer_not_found"
	case TransferPendingTransferNotPending:
		return "pending_transfer_not_pending"
	case TransferPendingTransferHasDifferentDebitAccountID:
		return "pending_transfer_has_different_debit_account_id"
	case TransferPendingTransferHasDifferentCreditAccountID:
		return "pending_transfer_has_different_credit_account_id"
	case TransferPendingTransferHasDifferentLedger:
		return "pending_transfer_has_different_ledger"
	case TransferPendingTransferHasDifferentCode:
		return "pending_transfer_has_different_code"
	case TransferExceedsPendingTransferAmount:
		return "exceeds_pending_transfer_amount"
	case TransferPendingTransferHasDifferentAmount:
		return "pending_transfer_has_different_amount"
	case TransferPendingTransferAlreadyPosted:
		return "pending_transfer_already_posted"
	case TransferPendingTransferAlreadyVoided:
		return "pending_transfer_already_voided"
	case TransferPendingTransferExpired:
		return "pending_transfer_expired"
	case TransferImportedEventTimestampMustNotRegress:
		return "imported_event_timestamp_must_not_regress"
	case TransferImportedEventTimestampMustPostdateDebitAccount:
		return "imported_event_timestamp_must_postdate_debit_account"
	case TransferImportedEventTimestampMustPostdateCreditAccount:
		return "imported_event_timestamp_must_postdate_credit_account"
	case TransferImportedEventTimeoutMustBeZero:
		return "imported_event_timeout_must_be_zero"
	case TransferDebitAccountAlreadyClosed:
		return "debit_account_already_closed"
	case TransferCreditAccountAlreadyClosed:
		return "credit_account_already_closed"
	case TransferOverflowsDebitsPending:
		return "overflows_debits_pending"
	case TransferOverflowsCreditsPending:
		return "overflows_credits_pending"
	case TransferOverflowsDebitsPosted:
		return "overflows_debits_posted"
	case TransferOverflowsCreditsPosted:
		return "overflows_credits_posted"
	case TransferOverflowsDebits:
		return "overflows_debits"
	case TransferOverflowsCredits:
		return "overflows_credits"
	case TransferOverflowsTimeout:
		return "overflows_timeout"
	case TransferExceedsCredits:
		return "exceeds_credits"
	case TransferExceedsDebits:
		return "exceeds_debits"
	}
	return "unknown_create_transfer_result"
}

// ExistsWithDifferent reports an exists_with_different_* result: a transfer
// with the event's id exists and differs from it in the named field.
func (r CreateTransferResult) ExistsWithDifferent() bool {
	switch r {
	case TransferExistsWithDifferentFlags, TransferExistsWithDifferentPendingID,
		TransferExistsWithDifferentTimeout, TransferExistsWithDifferentDebitAccountID,
		TransferExistsWithDifferentCreditAccountID, TransferExistsWithDifferentAmount,
		TransferExistsWithDifferentUserData128, TransferExistsWithDifferentUserData64,
		TransferExistsWithDifferentUserData32, TransferExistsWithDifferentLedger,
		TransferExistsWithDifferentCode:
		return true
	}
	return false
}
